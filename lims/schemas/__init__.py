"""marshmallow schemas: the one definition of what the API accepts and returns."""
