"""All tables. Importing this package registers every model on Base.metadata (Alembic needs that)."""

from lims.models.analytics import ModelVersion, Prediction
from lims.models.audit import AuditEvent, AuditHead
from lims.models.certificate import Certificate, CertificateGrant
from lims.models.organization import Organization
from lims.models.process import AlarmEvent, IngestReject
from lims.models.reference import (
    GradeLimit,
    GradeSpec,
    Installation,
    Material,
    Method,
    ProgrammeLine,
    Sensor,
    TestPlanItem,
)
from lims.models.sample import Analysis, Lot, Sample, SampleCounter
from lims.models.user import ApiToken, User

__all__ = [
    "ModelVersion",
    "Prediction",
    "AlarmEvent",
    "IngestReject",
    "Analysis",
    "ApiToken",
    "AuditEvent",
    "AuditHead",
    "Certificate",
    "CertificateGrant",
    "GradeLimit",
    "GradeSpec",
    "Installation",
    "Lot",
    "Material",
    "Method",
    "Organization",
    "ProgrammeLine",
    "Sample",
    "SampleCounter",
    "Sensor",
    "TestPlanItem",
    "User",
]
