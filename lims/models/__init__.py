"""All tables. Importing this package registers every model on Base.metadata (Alembic needs that)."""

from lims.models.organization import Organization

__all__ = ["Organization"]
