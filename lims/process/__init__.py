"""Process data in the LIMS: ingest status, rejects, alarms, live dashboard and charts."""
