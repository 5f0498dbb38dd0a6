"""The lab pages: registration, worksheet, import, review queue."""
