"""The pilot-line simulator: SIMULATED process data, lots and lab results for demo, tests and bench."""
