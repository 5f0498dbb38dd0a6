"""Domain services: they take a Session and know nothing about HTTP."""
