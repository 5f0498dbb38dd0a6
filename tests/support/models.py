"""Grade model versions for tests whose predictions are written or faked by the test itself."""

from __future__ import annotations

from lims.kernel.clock import utcnow
from lims.kernel.models.analytics import ModelVersion


def version_without_artifact(version: str, classes: list[str], **fields: object) -> ModelVersion:
    """A registered version with no model file behind it: its pages, predictions and audit
    entries can be tested, it cannot predict."""
    now = utcnow()
    defaults: dict[str, object] = {
        "status": "candidate", "metrics": {}, "train_start": now, "train_end": now, "n_train": 1, "n_test": 0,
        "features": [], "feature_ranges": {}, "reference": {}, "artifact_path": "-", "artifact_sha256": "0" * 64,
    }
    return ModelVersion(version=version, classes=classes, **(defaults | fields))
