"""The hash-chained, append-only audit trail.

Every change in the service layer appends one event in the same transaction as the change.
Appends are serialized by locking the single chain-head row, so the chain never forks even
with many app processes; `verify_chain` recomputes every hash and names the first broken event.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import inspect, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from lims.kernel.clock import utcnow
from lims.kernel.db import (
    Base,
    insert_or_merge,
    make_engine,
    make_session_factory,
    unusable_database,
)
from lims.kernel.migrate import schema_problem
from lims.kernel.models import AuditEvent, AuditHead, User

GENESIS = "0" * 64
HEAD_ID = 1
# Secrets never enter the trail.
_HIDDEN = {"password_hash", "token_hash"}


def plain(value: Any) -> Any:
    """A JSON value that reads back exactly as written (so hashes recompute)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def snapshot(obj: Base) -> dict[str, Any]:
    """The column values of a model instance, secrets left out, and the bulky columns a model
    loads only on demand (deferred: e.g. a signed PDF), which the trail would not read."""
    mapper = inspect(obj).mapper
    return {
        attr.key: plain(getattr(obj, attr.key))
        for attr in mapper.column_attrs
        if attr.key not in _HIDDEN and not attr.deferred
    }


def canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


def _hashed_fields(event: AuditEvent) -> dict[str, Any]:
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor_id": event.actor_id,
        "actor": event.actor,
        "action": event.action,
        "entity_type": event.entity_type,
        "entity_id": event.entity_id,
        "before": event.before,
        "after": event.after,
        "prev_hash": event.prev_hash,
    }


_CHAIN_KEY = "recyclab.audit_chain"


def _chain_state(session: Session) -> list:
    """[seq, last_hash] of the chain head, locked once per transaction and then kept in the
    session (the lock holds until commit, so nobody else can move the head meanwhile)."""
    transaction = session.get_transaction()
    cached = session.info.get(_CHAIN_KEY)
    if cached is not None and cached[0] is transaction:
        return cached[1]
    lock = select(AuditHead.seq, AuditHead.last_hash).where(AuditHead.id == HEAD_ID).with_for_update()
    row = session.execute(lock).one_or_none()
    if row is None:
        _create_head(session)
        row = session.execute(lock).one()
    state = [row.seq, row.last_hash]
    session.info[_CHAIN_KEY] = (transaction, state)
    return state


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_chain_state(session: Session, _previous) -> None:
    session.info.pop(_CHAIN_KEY, None)


def _create_head(session: Session) -> None:
    """Insert the head row once; a concurrent creator wins harmlessly (ON CONFLICT DO NOTHING)."""
    session.execute(
        insert_or_merge(session, AuditHead)
        .values(id=HEAD_ID, seq=0, last_hash=GENESIS)
        .on_conflict_do_nothing(index_elements=["id"])
    )


def command_line_operator() -> str:
    """Who runs a command, for the audit trail: the command line has no LIMS login, so the
    operating-system account that ran it."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError):  # no login name in the environment nor the password database
        name = "unknown"
    return f"{name} (command line)"


def record(
    session: Session,
    actor: User | None,
    action: str,
    entity_type: str,
    entity_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    *,
    who: str = "system",
) -> AuditEvent:
    """`who`: the actor's name when no user of the LIMS acts (e.g. the operating-system account
    that ran a command)."""
    session.flush()  # so `after` snapshots carry database-assigned ids and defaults
    state = _chain_state(session)
    event = AuditEvent(
        seq=state[0] + 1,
        at=utcnow(),
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else who,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        before=plain(before) if before is not None else None,
        after=plain(after) if after is not None else None,
        prev_hash=state[1],
    )
    event.hash = event_hash(event.prev_hash, _hashed_fields(event))
    session.add(event)
    session.execute(
        update(AuditHead).where(AuditHead.id == HEAD_ID).values(seq=event.seq, last_hash=event.hash)
    )
    state[0], state[1] = event.seq, event.hash
    return event


class TrailUnavailable(Exception):
    """The audit trail cannot be written; the reason, in one line."""


def record_by_operator(database_url: str, action: str, entity_type: str, entity_id: object,
                       before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """An event by the operator of a command that does its work without the LIMS database (the
    signing keys are files, made before the database may exist), in a transaction of its own
    on `database_url`, after the work is done. Raises TrailUnavailable when there is no
    database there yet (an SQLite file is not made by asking), it does not answer, or its
    schema is not at this version's migrations."""
    try:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
                and not Path(url.database).exists():
            raise TrailUnavailable(f"no database at {url.database} yet")
        engine = make_engine(database_url)
        try:
            with make_session_factory(engine).begin() as session:
                problem = schema_problem(session.connection())
                if problem:
                    raise TrailUnavailable(problem)
                record(session, None, action, entity_type, entity_id, before, after, who=command_line_operator())
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        reason = unusable_database(exc, database_url) or " ".join(str(exc).split())[:200]
        raise TrailUnavailable(reason) from exc


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    broken_seq: int | None = None
    reason: str = ""


def verify_chain(session: Session, batch: int = 5000) -> ChainReport:
    """Recompute every hash in order; report the first event that does not match."""
    prev_hash = GENESIS
    expected_seq = 1
    count = 0
    last_seq = 0
    while True:
        events = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.seq > last_seq)
            .order_by(AuditEvent.seq)
            .limit(batch)
        ).all()
        if not events:
            break
        for event in events:
            if event.seq != expected_seq:
                return ChainReport(False, count, expected_seq, f"event {expected_seq} is missing")
            if event.prev_hash != prev_hash:
                return ChainReport(
                    False, count, event.seq, "prev_hash does not match the event before"
                )
            if event_hash(prev_hash, _hashed_fields(event)) != event.hash:
                return ChainReport(False, count, event.seq, "content does not match its hash")
            prev_hash = event.hash
            expected_seq += 1
            count += 1
        last_seq = events[-1].seq
        session.expunge_all()
    head = session.get(AuditHead, HEAD_ID)
    if head is not None and (head.seq != count or head.last_hash != prev_hash):
        return ChainReport(False, count, count + 1, "events after the last one were removed")
    return ChainReport(True, count)
