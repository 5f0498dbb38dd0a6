"""All tables. Importing this package registers every model on Base.metadata (Alembic needs that)."""

from lims.kernel.models.analytics import ModelDriftReport, ModelVersion, Prediction
from lims.kernel.models.audit import AuditEvent, AuditHead
from lims.kernel.models.certificate import Certificate, CertificateGrant
from lims.kernel.models.organization import Organization
from lims.kernel.models.process import AlarmEvent, IngesterHeartbeat, IngestReject
from lims.kernel.models.reference import (
    GradeLimit,
    GradeSpec,
    Installation,
    Material,
    Method,
    ProgrammeLine,
    Sensor,
    TestPlanItem,
)
from lims.kernel.models.sample import Analysis, Lot, OosInvestigation, Sample, SampleCounter
from lims.kernel.models.user import ApiToken, Throttle, User

__all__ = [
    "ModelDriftReport",
    "ModelVersion",
    "Prediction",
    "AlarmEvent",
    "IngestReject",
    "IngesterHeartbeat",
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
    "OosInvestigation",
    "Organization",
    "ProgrammeLine",
    "Sample",
    "Throttle",
    "SampleCounter",
    "Sensor",
    "TestPlanItem",
    "User",
]
