"""Lots, samples and results: registration, the workflow (four-eyes), grading, CSV import."""
