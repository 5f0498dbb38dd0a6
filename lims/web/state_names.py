"""Translated names of the states shown as badges, shared by every page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

STATE_NAMES = {
    # samples
    "registered": _l("registered"),
    "received": _l("received"),
    "to_be_verified": _l("to be verified"),
    "verified": _l("verified"),
    "certified": _l("certified"),
    "cancelled": _l("cancelled"),
    "rejected": _l("rejected"),
    "invalid": _l("invalid"),
    # analyses
    "unassigned": _l("open"),
    "submitted": _l("submitted"),
    "retracted": _l("retracted"),
    # result evaluation
    "in_spec": _l("in spec"),
    "warn": _l("near limit"),
    "out_of_spec": _l("out of spec"),
    # certificates
    "valid": _l("valid"),
    "withdrawn": _l("withdrawn"),
    "superseded": _l("superseded"),
    # installations and sensors
    "running": _l("running"),
    "ok": _l("ok"),
    "alarm": _l("alarm"),
    "stale": _l("no recent data"),
    "nodata": _l("no data"),
    # grade model versions
    "production": _l("in production"),
    "candidate": _l("candidate"),
    "retired": _l("retired"),
}
