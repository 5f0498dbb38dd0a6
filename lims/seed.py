"""Load reference data from config/ into the database. Idempotent: a second run changes nothing."""

from __future__ import annotations

import tomllib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from lims.models import Organization


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


def require(entry: dict, field: str, where: str) -> object:
    if field not in entry:
        raise SeedError(f"{where}: missing field '{field}'")
    return entry[field]


def seed_organizations(session: Session, path: Path) -> int:
    """Insert or update organizations by key; returns how many rows changed."""
    changed = 0
    for i, entry in enumerate(read_toml(path).get("organization", [])):
        where = f"{path.name} organization #{i + 1}"
        key = require(entry, "key", where)
        values = {
            "name": require(entry, "name", where),
            "kind": require(entry, "kind", where),
            "address": entry.get("address", ""),
        }
        if values["kind"] not in {"lab", "customer", "supplier"}:
            raise SeedError(f"{where}: kind must be lab, customer or supplier")
        org = session.scalar(select(Organization).where(Organization.key == key))
        if org is None:
            session.add(Organization(key=key, **values))
            changed += 1
        elif any(getattr(org, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(org, k, v)
            changed += 1
    return changed


def seed_all(session: Session, config: Path) -> dict[str, int]:
    """Every reference-data file, in dependency order, in the caller's transaction."""
    return {"organizations": seed_organizations(session, config / "organizations.toml")}
