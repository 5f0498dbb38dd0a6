"""Users, passwords (argon2id) and API tokens (random, stored as sha256, shown once)."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from lims.audit import service as audit
from lims.identity import token_hash
from lims.kernel.clock import utcnow
from lims.kernel.errors import N_, Forbidden, InputError, NotFound, Text
from lims.kernel.models import ApiToken, Organization, User
from lims.kernel.models.organization import LANGUAGES
from lims.kernel.models.user import PASSWORD_COMMON, PASSWORD_SET_BY_ADMIN, ROLES, USERNAME_PATTERN
from lims.kernel.settings import TOKEN_LIFETIME_MAX_DAYS, load_settings
from lims.permissions import Capability, can, require

_hasher = PasswordHasher()
TOKEN_PREFIX = "rcl_"
# Run against unknown usernames too, so login time does not tell which usernames exist.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
# zxcvbn's list of the 30,000 passwords found most often in leaked password sets (lowercase):
# kept up by a maintained library rather than by hand here.
_COMMON_PASSWORDS = frozenset(FREQUENCY_LISTS["passwords"])
# What may be added around a common password without making it any less common ("Password1!").
_AROUND_COMMON = "0123456789 !?.,-_#@*+=&$%"
SERVICE_NAME = "recyclab"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
            and user is not None
        )
    except (VerificationError, InvalidHashError):
        return False


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user these credentials belong to, or None. A common password (see
    flag_common_password) logs in, but the account must change it before anything else."""
    user = session.scalar(select(User).where(User.username == username))
    # The password is checked first, also for an unknown username (against the dummy hash):
    # a login answered without hashing would tell that the name does not exist.
    if not check_password(user, password) or user is None or not user.active:
        return None
    # Costs are raised over the years; a hash keeps its own until the password is known again.
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    flag_common_password(session, user, password)
    return user


def is_common_password(password: str) -> bool:
    """One of the passwords attackers try first: on the leaked lists, also with digits or signs
    around it, in any case."""
    lowered = password.casefold()
    return lowered in _COMMON_PASSWORDS or lowered.strip(_AROUND_COMMON) in _COMMON_PASSWORDS


def flag_common_password(session: Session, user: User, password: str) -> None:
    """A common password set before the rule refused them is evidence of compromise (NIST SP
    800-63B 5.1.1.2: the verifier forces a change): the account must choose another before
    anything else. Only the leaked list counts here, not check_new_password's other rules: the
    demo accounts' published passwords contain their usernames and keep working. An account
    flagged already keeps its reason (an administrator's password is known to them)."""
    if user.must_change_password or not is_common_password(password):
        return
    before = audit.snapshot(user)
    _require_change(user, PASSWORD_COMMON)
    audit.record(session, None, "user.password_common", "user", user.id, before, audit.snapshot(user))


def _require_change(user: User, reason: str | None) -> None:
    """The account must choose its own password (for `reason`), or, with None, need not."""
    user.must_change_password = reason is not None
    user.password_change_reason = reason


def administer(actor: User | None, doing: Text) -> None:
    """The rule every account change keeps, whichever way in called it. No actor is the system
    itself (seeding, a setup script before any administrator exists): no request or command acting
    as a named user passes None."""
    if actor is not None:
        require(actor, Capability.ADMINISTER, doing)


def user_named(session: Session, actor: User, username: str) -> User:
    """A user as the actor may read it: oneself, or anyone for an administrator; to anyone else
    another user is not found (which usernames exist is not theirs to know)."""
    if not can(actor, Capability.ADMINISTER) and actor.username != username:
        raise NotFound(N_("user %(name)s not found", name=repr(username)))
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(N_("user %(name)s not found", name=repr(username)))
    return user


def end_sessions(user: User) -> None:
    """Every session cookie issued to the user so far stops working."""
    user.session_version = (user.session_version or 0) + 1


def token_owner(actor: User, username: str | None) -> User:
    """Whom a new token is for: the caller, whatever name is asked for. Another name is refused
    without being looked up, so the answer never tells which usernames exist."""
    if username and username != actor.username:
        raise Forbidden(f"tokens are minted only by their owner: {username} must create their own")
    return actor


def create_token(
    session: Session, actor: User, owner: User, name: str, *, days: int | None = None,
    default_days: int | None = None, parent: ApiToken | None = None,
) -> tuple[ApiToken, str]:
    """Returns the row and the token itself, which is never stored and cannot be shown again.

    Only the owner mints a token: one minted by an admin for someone else would let the admin
    act as that user (and get round the four-eyes rule); an admin may revoke any token.

    It expires after `days` (the creator's choice), else `default_days` (the web app passes
    its RECYCLAB_TOKEN_LIFETIME_DAYS; callers without an app, tests and benchmarks, get the
    configured one), at most TOKEN_LIFETIME_MAX_DAYS. `parent` is the token the creator is
    calling with: the new one expires no later, and is revoked with it."""
    token_owner(actor, owner.username)
    if not name.strip() or len(name) > 100:
        raise InputError("name", N_("give the token a name of 1 to 100 characters (e.g. the machine using it)"))
    if days is None:
        days = default_days if default_days is not None else load_settings().token_lifetime_days
    if not 1 <= days <= TOKEN_LIFETIME_MAX_DAYS:
        raise InputError("expires_in_days", N_("give 1 to %(n)s days", n=TOKEN_LIFETIME_MAX_DAYS))
    expires_at = utcnow() + timedelta(days=days)
    if parent is not None and parent.expires_at is not None:
        expires_at = min(expires_at, parent.expires_at)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=owner.id, name=name, token_hash=token_hash(token), prefix=token[:10],
                   expires_at=expires_at, parent_id=parent.id if parent is not None else None)
    session.add(row)
    session.flush()
    audit.record(session, actor, "token.create", "api_token", row.id, None, audit.snapshot(row))
    return row, token


def revoke_token(session: Session, actor: User | None, token: ApiToken, *, who: str = "system") -> list[ApiToken]:
    """By its owner or an administrator; to anyone else the token is not found (that it exists
    is not theirs to know). The tokens minted with it go too, and theirs in turn: whoever held
    a leaked token may have minted more with it. Each revocation is in the audit trail. `who`,
    with no actor: whom the audit trail names (e.g. the operating-system account of a
    command). Returns the tokens it revoked (none if this one was revoked already)."""
    if actor is not None and token.user_id != actor.id and not can(actor, Capability.ADMINISTER):
        raise NotFound(N_("token %(id)s not found", id=token.id))
    now = utcnow()
    revoked: list[ApiToken] = []
    lineage = [token]
    while lineage:
        current = lineage.pop()
        if current.revoked_at is None:
            before = audit.snapshot(current)
            current.revoked_at = now
            audit.record(
                session, actor, "token.revoke", "api_token", current.id, before, audit.snapshot(current),
                who=who,
            )
            revoked.append(current)
        # Minted tokens are the owner's too (only the owner mints), so whoever may revoke the
        # parent may revoke them. A revoked child's own children are looked at all the same.
        lineage.extend(session.scalars(select(ApiToken).where(ApiToken.parent_id == current.id)))
    return revoked


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError("role", N_("must be one of %(choices)s", choices=", ".join(ROLES)))


def _check_org_role(org: Organization, role: str) -> None:
    # Customer users belong to customer/supplier organizations; lab staff to the lab.
    if (role == "customer") != (org.kind != "lab"):
        raise InputError("role", N_("role %(role)s does not fit a %(kind)s organization", role=repr(role), kind=Text(org.kind)))


def create_user(
    session: Session,
    actor: User | None,
    *,
    username: str,
    password: str,
    role: str,
    organization: Organization,
    full_name: str = "",
    email: str = "",
    who: str = "system",
) -> User:
    administer(actor, N_("create users"))
    _check_new_account(username, full_name, email)
    check_new_password(session, username, password)
    _check_role(role)
    _check_org_role(organization, role)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InputError("username", N_("%(name)s is taken", name=repr(username)))
    user = User(
        username=username,
        password_hash=hash_password(password),
        role=role,
        organization_id=organization.id,
        full_name=full_name,
        email=email,
    )
    # The administrator making the account knows its first password.
    _require_change(user, PASSWORD_SET_BY_ADMIN if actor is not None else None)
    user.organization = organization
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", "user", user.id, None, audit.snapshot(user), who=who)
    return user


def _check_new_account(username: str, full_name: str, email: str) -> None:
    """The rules of the users API's schema, for every way an account is made (the command line
    comes straight here)."""
    if not re.fullmatch(USERNAME_PATTERN, username):
        raise InputError("username", N_("give 2 to 80 letters, digits or . _ @ -, without spaces"))
    for field, text in (("full_name", full_name), ("email", email)):
        if len(text) > 200:
            raise InputError(field, N_("at most %(n)s characters", n=200))


def _revoke_tokens(session: Session, actor: User | None, user: User, who: str) -> None:
    for token in session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).all():
        revoke_token(session, actor, token, who=who)


def check_new_password(session: Session, username: str, password: str) -> None:
    """The rule for a password being set, by every way in (pages, API, command line), after
    NIST SP 800-63B 5.1.1.2: 8 to 200 characters; not one of the passwords attackers try first
    (a common one from leaked lists, also with digits or signs around it, in any case); not the
    account's username nor the lab's or the service's name with digits added. No other
    composition rule: a long phrase of ordinary words is fine. A common password set before
    this rule still logs in, once: then it must be changed (flag_common_password)."""
    if not isinstance(password, str) or not 8 <= len(password) <= 200:
        raise InputError("password", N_("give a password of 8 to 200 characters"))
    if is_common_password(password):
        raise InputError("password", N_(
            "this is one of the passwords used most often, which attackers try first: choose"
            " another, e.g. a few words that do not belong together"))
    lowered = password.casefold()
    if len(username) >= 3 and username.casefold() in lowered:
        raise InputError("password", N_(
            "the password contains the username %(name)s, which attackers try first: choose one"
            " without it", name=repr(username)))
    labs = session.execute(select(Organization.key, Organization.name).where(Organization.kind == "lab"))
    context = {SERVICE_NAME, *(word for lab in labs for word in lab)}
    letters = "".join(c for c in lowered if c.isalpha())
    if any(letters == "".join(c for c in word.casefold() if c.isalpha()) for word in context):
        raise InputError("password", N_(
            "the password is the name of the lab or of Recyclab, which attackers try first:"
            " choose another, e.g. a few words that do not belong together"))


def update_user(
    session: Session, actor: User | None, user: User, changes: dict, *, who: str = "system",
    demo_credentials: bool = False,
) -> User:
    """A password set by someone else is a temporary one (they know it): its owner chooses a
    new one at the next login, and the account's API tokens are revoked. The system (seeding
    its demo users from a file) sets passwords that stay.

    demo_credentials: the password is a published demo one of config/users.toml ("demo-tech"),
    seeded by the system: nobody chose it, and it names its account, so check_new_password's
    rule for chosen passwords is not applied. Honoured for the system only (no actor)."""
    administer(actor, N_("change users"))
    if actor is not None and actor.id == user.id:
        # Else the lab's one administrator is locked out, or demoted, by a single change.
        if changes.get("active") is False:
            raise InputError("active", N_("you cannot deactivate yourself; another administrator can"))
        if changes.get("role", user.role) != user.role:
            raise InputError("role", N_("you cannot change your own role; another administrator can"))
    before = audit.snapshot(user)
    deactivated = user.active and changes.get("active") is False
    password = changes.pop("password", None)
    if password is not None and not (demo_credentials and actor is None):
        check_new_password(session, user.username, password)
    by_someone_else = actor is None or actor.id != user.id
    if "role" in changes:
        _check_role(changes["role"])
        _check_org_role(user.organization, changes["role"])
    for key, value in changes.items():
        setattr(user, key, value)
    if password is not None:
        user.password_hash = hash_password(password)
        _require_change(user, PASSWORD_SET_BY_ADMIN if actor is not None and by_someone_else else None)
    if password is not None or deactivated:
        # A deactivation ends access for good: reactivating the account must not bring back a
        # browser left logged in or a leaked token (revoked below); its owner logs in again.
        end_sessions(user)
    after = audit.snapshot(user)
    if after != before or password is not None:
        audit.record(session, actor, "user.update", "user", user.id, before, after, who=who)
    if deactivated or (password is not None and by_someone_else):
        _revoke_tokens(session, actor, user, who)
    return user


def set_password(
    session: Session, actor: User | None, user: User, password: str, *, who: str = "system",
    demo_credentials: bool = False,
) -> User:
    """Ends the user's other sessions; see update_user for what else follows."""
    return update_user(
        session, actor, user, {"password": password}, who=who, demo_credentials=demo_credentials
    )


def change_own_password(session: Session, user: User, current: str, new: str) -> User:
    """The owner's own choice, proven by the current password: ends the user's sessions (the
    caller keeps the one making the change), keeps the user's tokens."""
    if not user.active:
        raise Forbidden(N_("the account %(name)s is deactivated", name=repr(user.username)))
    if not check_password(user, current):
        raise InputError("current_password", N_("this is not your current password"))
    check_new_password(session, user.username, new)
    if new == current:
        raise InputError("password", N_("choose a password other than the current one"))
    before = audit.snapshot(user)
    user.password_hash = hash_password(new)
    _require_change(user, None)
    end_sessions(user)
    audit.record(session, user, "user.password", "user", user.id, before, audit.snapshot(user))
    return user


def set_active(session: Session, actor: User, user: User, active: bool) -> User:
    """Deactivate (or reactivate) a user: a deactivated user can neither log in nor use a token."""
    return update_user(session, actor, user, {"active": active})


def get_org(session: Session, key: str) -> Organization:
    org = session.scalar(select(Organization).where(Organization.key == key))
    if org is None:
        raise NotFound(N_("organization %(key)s not found", key=repr(key)))
    return org


def _checked_organization(values: dict) -> dict:
    """An organization's name, address and certificate language as given, trimmed; InputError
    naming every field that is wrong. The API and the administration page both come here."""
    out = {key: value.strip() if key in ("name", "address") and isinstance(value, str) else value for key, value in values.items()}
    errors: dict[str, list[str]] = {}
    if "name" in out and not (isinstance(out["name"], str) and 1 <= len(out["name"]) <= 200):
        errors["name"] = [N_("give a name of 1 to 200 characters")]
    if "address" in out and not (isinstance(out["address"], str) and len(out["address"]) <= 400):
        errors["address"] = [N_("at most %(count)s characters", count=400)]
    if "language" in out and out["language"] not in LANGUAGES:
        errors["language"] = [N_("must be one of %(choices)s", choices=", ".join(LANGUAGES))]
    if errors:
        raise InputError(errors)
    return out


def create_organization(session: Session, actor: User, **values: str) -> Organization:
    administer(actor, N_("create organizations"))
    if session.scalar(select(Organization.id).where(Organization.key == values["key"])) is not None:
        raise InputError("key", N_("organization %(key)s exists already", key=repr(values["key"])))
    org = Organization(**_checked_organization(values))
    session.add(org)
    session.flush()
    audit.record(
        session, actor, "organization.create", "organization", org.key, None, audit.snapshot(org)
    )
    return org


def update_organization(
    session: Session, actor: User, org: Organization, changes: dict
) -> Organization:
    """Name, address and the language its certificates are printed in: checked before any
    is set, so a refusal changes nothing."""
    administer(actor, N_("change organizations"))
    checked = _checked_organization(changes)
    before = audit.snapshot(org)
    for key, value in checked.items():
        setattr(org, key, value)
    after = audit.snapshot(org)
    if after != before:
        audit.record(session, actor, "organization.update", "organization", org.key, before, after)
    return org
