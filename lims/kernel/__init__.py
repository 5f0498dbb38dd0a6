"""The kernel: database, settings, models, migrations and the clock. Imports no domain, no Flask."""
