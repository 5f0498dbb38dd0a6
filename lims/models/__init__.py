"""All tables. Importing this package registers every model on Base.metadata (Alembic needs that)."""

from lims.models.organization import Organization
from lims.models.process import AlarmEvent, IngestReject

__all__ = ["AlarmEvent", "IngestReject", "Organization"]
