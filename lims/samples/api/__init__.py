"""The REST API of lots, samples, analyses and imports."""
