"""Load reference data from config/ into the database. Idempotent: a second run changes nothing.

Every changed row writes an audit event (actor "system"), like any other change.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.registry import Registry, RegistryError, load_registry
from lims.audit import service as audit
from lims.kernel.models import (
    GradeLimit,
    GradeSpec,
    Installation,
    Material,
    Method,
    Organization,
    ProgrammeLine,
    Sensor,
    TestPlanItem,
    User,
)
from lims.kernel.models.organization import LANGUAGES, ORGANIZATION_KINDS
from lims.kernel.models.user import ROLES
from lims.people.accounts import check_password, hash_password, set_password
from lims.samples import workflow
from lims.samples.grading import DECISION_RULES
from lims.samples.results import normalize_unit


class SeedError(ValueError):
    """A reference-data file is malformed; the message names the file and the entry."""


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise SeedError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SeedError(f"{path}: not valid TOML: {exc}") from exc


def require(entry: dict, field: str, where: str) -> Any:
    if field not in entry:
        raise SeedError(f"{where}: missing field '{field}'")
    return entry[field]


def _text(entry: dict, field: str, where: str, default: str | None = None) -> str:
    value = entry.get(field, default) if default is not None else require(entry, field, where)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise SeedError(f"{where}: field '{field}' must be a non-empty string")
    return value


def _decimal(value: Any, field: str, where: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SeedError(f"{where}: field '{field}' must be a number, not {value!r}")
    try:
        return Decimal(str(value))
    except InvalidOperation as exc:
        raise SeedError(f"{where}: field '{field}' is not a number") from exc


def _entries(path: Path, section: str) -> list[tuple[str, dict]]:
    """The [[section]] tables of a file with a 'file section #n (key)' label for messages."""
    raw = read_toml(path).get(section, [])
    if not isinstance(raw, list):
        raise SeedError(f"{path.name}: '{section}' must be an array of tables ([[{section}]])")
    out = []
    for i, entry in enumerate(raw):
        key = entry.get("key") or entry.get("material") or entry.get("username") or "?"
        out.append((f"{path.name} {section} #{i + 1} ({key})", entry))
    return out


def _upsert(
    session: Session, model: type, where: dict, values: dict, entity: str
) -> tuple[Any, bool]:
    """Insert or update one row found by `where`; audit and report whether it changed."""
    row = session.scalar(select(model).filter_by(**where))
    if row is None:
        row = model(**where, **values)
        session.add(row)
        session.flush()
        audit.record(session, None, "seed.create", entity, row.id, None, audit.snapshot(row))
        return row, True
    if all(getattr(row, k) == v for k, v in values.items()):
        return row, False
    before = audit.snapshot(row)
    for k, v in values.items():
        setattr(row, k, v)
    session.flush()
    audit.record(session, None, "seed.update", entity, row.id, before, audit.snapshot(row))
    return row, True


def seed_organizations(session: Session, path: Path) -> int:
    changed = 0
    for where, entry in _entries(path, "organization"):
        kind = _text(entry, "kind", where)
        if kind not in ORGANIZATION_KINDS:
            raise SeedError(f"{where}: kind must be one of {', '.join(ORGANIZATION_KINDS)}")
        values = {
            "name": _text(entry, "name", where),
            "kind": kind,
            "address": entry.get("address", ""),
            "language": _text(entry, "language", where, default="en"),
        }
        if values["language"] not in LANGUAGES:
            raise SeedError(f"{where}: language must be one of {', '.join(LANGUAGES)}")
        changed += _upsert(
            session, Organization, {"key": _text(entry, "key", where)}, values, "organization"
        )[1]
    return changed


def seed_installations(session: Session, path: Path) -> int:
    """Programme lines, installations and sensors: the same file the ingester validates against."""
    try:
        registry = load_registry(path)
    except RegistryError as exc:
        raise SeedError(str(exc)) from exc
    return sync_installations(session, registry)


def sync_installations(session: Session, registry: Registry) -> int:
    """The lines, installations and sensors of `registry` into the LIMS, where the dashboard and
    the charts read them (also done by an ingester that reloads its registry)."""
    changed = 0
    lines = {}
    for line in registry.lines.values():
        values = {"name": line.name, "name_nl": line.name_nl, "sample_prefix": line.sample_prefix}
        lines[line.key], c = _upsert(
            session, ProgrammeLine, {"key": line.key}, values, "programme_line"
        )
        changed += c
    for inst in registry.installations.values():
        values = {
            "line_id": lines[inst.line].id,
            "kind": inst.kind,
            "name": inst.name,
            "name_nl": inst.name_nl,
        }
        row, c = _upsert(session, Installation, {"key": inst.key}, values, "installation")
        changed += c
        for sensor in inst.sensors.values():
            values = {
                "name": sensor.name,
                "name_nl": sensor.name_nl,
                "unit": sensor.unit,
                "range_min": sensor.min,
                "range_max": sensor.max,
                "alarm_low": sensor.alarm_low,
                "alarm_high": sensor.alarm_high,
            }
            changed += _upsert(
                session, Sensor, {"installation_id": row.id, "key": sensor.key}, values, "sensor"
            )[1]
    return changed


def _by_key(session: Session, model: type, key: str, what: str, where: str) -> Any:
    row = session.scalar(select(model).where(model.key == key))
    if row is None:
        raise SeedError(f"{where}: unknown {what} {key!r}")
    return row


def seed_materials(session: Session, path: Path) -> int:
    changed = 0
    for where, entry in _entries(path, "material"):
        line = _by_key(session, ProgrammeLine, _text(entry, "line", where), "line", where)
        values = {
            "code": _text(entry, "code", where),
            "name": _text(entry, "name", where),
            "name_nl": _text(entry, "name_nl", where, default=""),
            "line_id": line.id,
        }
        changed += _upsert(
            session, Material, {"key": _text(entry, "key", where)}, values, "material"
        )[1]
    return changed


METHOD_ORIGINS = ("standard", "adapted", "in-house")


def _plausible(entry: dict, where: str) -> dict[str, Decimal | None]:
    span = require(entry, "plausible", where)
    if not isinstance(span, dict) or set(span) - {"min", "max"} or not span:
        raise SeedError(f"{where}: plausible must be {{ min = .., max = .. }}")
    lo = _decimal(span.get("min"), "plausible.min", where)
    hi = _decimal(span.get("max"), "plausible.max", where)
    if lo is not None and hi is not None and lo >= hi:
        raise SeedError(f"{where}: plausible min {lo} is not below max {hi}")
    return {"plausible_min": lo, "plausible_max": hi}


def _conversions(entry: dict, where: str) -> dict[str, str] | None:
    units = entry.get("units")
    if units is None:
        return None
    if not isinstance(units, dict) or not units:
        raise SeedError(f"{where}: units must be {{ \"unit\" = factor to the method's unit }}")
    out = {}
    for unit, factor in units.items():
        factor = _decimal(factor, f"units.{unit}", where)
        if factor is None or factor <= 0:
            raise SeedError(f"{where}: units.{unit} must be a positive factor")
        out[normalize_unit(unit)] = str(factor)
    return out


def seed_methods(session: Session, path: Path) -> int:
    changed = 0
    for where, entry in _entries(path, "method"):
        decimals = require(entry, "decimals", where)
        if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6:
            raise SeedError(f"{where}: field 'decimals' must be an integer 0..6")
        u_abs = _decimal(entry.get("uncertainty"), "uncertainty", where)
        u_rel = _decimal(entry.get("uncertainty_pct"), "uncertainty_pct", where)
        if (u_abs is None) == (u_rel is None):
            raise SeedError(f"{where}: give exactly one of 'uncertainty' or 'uncertainty_pct'")
        values = {
            "property": _text(entry, "property", where),
            "name": _text(entry, "name", where),
            "name_nl": _text(entry, "name_nl", where, default=""),
            "standard": _text(entry, "standard", where),
            "conditions": _text(entry, "conditions", where, default=""),
            "conditions_nl": _text(entry, "conditions_nl", where, default=""),
            "unit": _text(entry, "unit", where),
            "decimals": decimals,
            "uncertainty_abs": u_abs,
            "uncertainty_rel_pct": u_rel,
            "detection_limit": _decimal(entry.get("detection_limit"), "detection_limit", where),
            **_plausible(entry, where),
            "conversions": _conversions(entry, where),
            "origin": _text(entry, "origin", where, default="standard"),
        }
        if values["origin"] not in METHOD_ORIGINS:
            raise SeedError(f"{where}: origin must be one of {', '.join(METHOD_ORIGINS)}")
        changed += _upsert(session, Method, {"key": _text(entry, "key", where)}, values, "method")[
            1
        ]
    return changed


def seed_test_plans(session: Session, path: Path) -> int:
    changed = 0
    for where, entry in _entries(path, "test_plan"):
        material = _by_key(session, Material, _text(entry, "material", where), "material", where)
        keys = require(entry, "methods", where)
        if not isinstance(keys, list) or not keys or len(set(keys)) != len(keys):
            raise SeedError(f"{where}: 'methods' must be a non-empty list without repeats")
        wanted = set()
        for position, key in enumerate(keys, start=1):
            method = _by_key(session, Method, key, "method", where)
            wanted.add(method.id)
            changed += _upsert(
                session,
                TestPlanItem,
                {"material_id": material.id, "method_id": method.id},
                {"position": position},
                "test_plan_item",
            )[1]
        for item in session.scalars(
            select(TestPlanItem).where(TestPlanItem.material_id == material.id)
        ):
            if item.method_id not in wanted:
                audit.record(
                    session, None, "seed.delete", "test_plan_item", item.id, audit.snapshot(item)
                )
                session.delete(item)
                changed += 1
    return changed


def seed_grade_specs(session: Session, path: Path) -> int:
    changed = 0
    for where, entry in _entries(path, "grade_spec"):
        material = _by_key(session, Material, _text(entry, "material", where), "material", where)
        rule = _text(entry, "decision_rule", where)
        if rule not in DECISION_RULES:
            raise SeedError(f"{where}: decision_rule must be one of {', '.join(DECISION_RULES)}")
        grades = require(entry, "grade", where)
        if not isinstance(grades, list) or not grades:
            raise SeedError(f"{where}: needs at least one [[grade_spec.grade]]")
        measured = set(
            session.scalars(
                select(Method.property)
                .join(TestPlanItem, TestPlanItem.method_id == Method.id)
                .where(TestPlanItem.material_id == material.id)
            )
        )
        spec, c = _upsert(
            session, GradeSpec, {"material_id": material.id}, {"decision_rule": rule}, "grade_spec"
        )
        before = changed
        changed += c
        wanted = set()
        for rank, grade in enumerate(grades, start=1):
            name = _text(grade, "grade", f"{where} grade #{rank}")
            for prop, limit in grade.items():
                if prop == "grade":
                    continue
                here = f"{where} grade {name} {prop}"
                if prop not in measured:
                    raise SeedError(
                        f"{here}: no method in the test plan of {material.key} measures it"
                    )
                if not isinstance(limit, dict) or not limit or set(limit) - {"min", "max"}:
                    raise SeedError(f"{here}: limit must be {{ min = .., max = .. }}")
                lo = _decimal(limit.get("min"), "min", here)
                hi = _decimal(limit.get("max"), "max", here)
                if lo is not None and hi is not None and lo > hi:
                    raise SeedError(f"{here}: min {lo} is above max {hi}")
                wanted.add((name, prop))
                changed += _upsert(
                    session,
                    GradeLimit,
                    {"grade_spec_id": spec.id, "grade": name, "property": prop},
                    {"rank": rank, "min": lo, "max": hi},
                    "grade_limit",
                )[1]
        for limit in session.scalars(select(GradeLimit).where(GradeLimit.grade_spec_id == spec.id)):
            if (limit.grade, limit.property) not in wanted:
                audit.record(
                    session, None, "seed.delete", "grade_limit", limit.id, audit.snapshot(limit)
                )
                session.delete(limit)
                changed += 1
        session.expire(spec)
        if changed > before:
            session.flush()
            workflow.regrade_verified(session, material.id)
    return changed


def seed_users(session: Session, path: Path) -> int:
    """Demo users (demo credentials only). A changed password is re-hashed; an unchanged one is not.
    Their passwords are not temporary: the README gives them to everyone trying the demo."""
    changed = 0
    for where, entry in _entries(path, "user"):
        role = _text(entry, "role", where)
        if role not in ROLES:
            raise SeedError(f"{where}: role must be one of {', '.join(ROLES)}")
        org = _by_key(
            session, Organization, _text(entry, "organization", where), "organization", where
        )
        password = _text(entry, "password", where)
        username = _text(entry, "username", where)
        values = {"full_name": entry.get("full_name", ""), "role": role, "organization_id": org.id}
        existing = session.scalar(select(User).where(User.username == username))
        if existing is None:
            values["password_hash"] = hash_password(password)
        user, updated = _upsert(session, User, {"username": username}, values, "user")
        if existing is not None and not check_password(user, password):
            # As any password reset by someone else: whoever used the old one is logged out.
            # A demo password names its account ("demo-tech"), which a chosen one may not.
            set_password(session, None, user, password, demo_credentials=True)
            updated = True
        changed += updated
    return changed


SEEDERS = (
    ("organizations", "organizations.toml", seed_organizations),
    ("installations", "installations.toml", seed_installations),
    ("materials", "materials.toml", seed_materials),
    ("methods", "methods.toml", seed_methods),
    ("test_plans", "test_plans.toml", seed_test_plans),
    ("grade_specs", "grade_specs.toml", seed_grade_specs),
    ("users", "users.toml", seed_users),
)


def seed_all(
    session: Session, config: Path, only: tuple[str, ...] | None = None, demo_users: bool = True
) -> dict[str, int]:
    """Every reference-data file, in dependency order, in the caller's transaction.
    Returns how many rows each file changed (0 everywhere on a second run).
    demo_users=False leaves out users.toml, whose passwords are demo credentials."""
    return {
        name: seeder(session, config / filename)
        for name, filename, seeder in SEEDERS
        if (only is None or name in only) and (demo_users or name != "users")
    }
