"""Process-data ingest: MQTT consumer, decoders, validation, time-series stores, spool, alarms.

Nothing here imports Flask.
"""
