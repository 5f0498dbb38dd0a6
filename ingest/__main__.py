"""python -m ingest: the same as `recyclab ingest`."""

from ingest.cli import ingest_command

ingest_command(prog_name="python -m ingest")
