from __future__ import annotations

from marshmallow import Schema, fields, validate

from lims.kernel.models.organization import LANGUAGES
from lims.kernel.models.user import ROLES, USERNAME_PATTERN
from lims.kernel.settings import TOKEN_LIFETIME_MAX_DAYS
from lims.web.schemas import key_of

ORG_KINDS = ("lab", "customer", "supplier")


class OrganizationSchema(Schema):
    id = fields.Integer(dump_only=True)
    key = fields.String(required=True, validate=validate.Regexp(r"^[a-z0-9][a-z0-9-]{1,39}$"))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    kind = fields.String(required=True, validate=validate.OneOf(ORG_KINDS))
    address = fields.String(load_default="", validate=validate.Length(max=400))
    # The language its certificates are printed in.
    language = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))


class OrganizationUpdateSchema(Schema):
    name = fields.String(validate=validate.Length(1, 200))
    address = fields.String(validate=validate.Length(max=400))
    language = fields.String(validate=validate.OneOf(LANGUAGES))


class UserSchema(Schema):
    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    email = fields.String()
    role = fields.String()
    organization = key_of("organization.key")
    active = fields.Boolean()
    created_at = fields.DateTime()


# What every way of setting a password says of it (lims.people.accounts.check_new_password).
PASSWORD_RULE = (
    "8 to 200 characters; not a commonly used password (also with digits added), nor one"
    " containing the username, nor the lab's name or 'recyclab' with digits (422 naming"
    " `password`)."
)


class UserCreateSchema(Schema):
    username = fields.String(required=True, validate=validate.Regexp(USERNAME_PATTERN))
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=8, max=200),
        metadata={"description": "The first password, temporary: " + PASSWORD_RULE},
    )
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    organization = fields.String(required=True, metadata={"description": "Organization key."})
    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    email = fields.Email(load_default="")


class UserUpdateSchema(Schema):
    full_name = fields.String(validate=validate.Length(max=200))
    email = fields.Email()
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    password = fields.String(
        load_only=True, validate=validate.Length(min=8, max=200),
        metadata={"description": "A new password (temporary when set for someone else): " + PASSWORD_RULE},
    )


class LoginSchema(Schema):
    username = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class PasswordChangeSchema(Schema):
    username = fields.String(required=True)
    current_password = fields.String(required=True, load_only=True)
    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=8, max=200),
        metadata={"description": "The new password: " + PASSWORD_RULE},
    )


class TokenSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "First characters, to tell tokens apart."})
    user = key_of("user.username")
    created_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    expires_at = fields.DateTime(allow_none=True, metadata={
        "description": "Refused from then on (401 saying it expired). Null: never (a token from before tokens"
        " expired)."})
    last_used_at = fields.DateTime(allow_none=True, metadata={
        "description": "When it last authenticated a request, to within a few minutes; null: never used."})
    parent = fields.Integer(attribute="parent_id", allow_none=True, metadata={
        "description": "The token it was minted with, if any: it expires no later and is revoked with it."})


class TokenCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 100))
    expires_in_days = fields.Integer(
        validate=validate.Range(1, TOKEN_LIFETIME_MAX_DAYS),
        metadata={"description": "Days until it expires; default: the lab's setting (RECYCLAB_TOKEN_LIFETIME_DAYS,"
                  " 90 unless set otherwise). A token minted with a token expires no later than that one."},
    )
    user = fields.String(metadata={"description": "Yourself (the default): tokens are minted only by their owner."})
    password = fields.String(load_only=True, metadata={
        "description": "Your password: required when logged in with the session cookie (a token outlives the"
        " login), not with a bearer token."})


class TokenCreatedSchema(TokenSchema):
    token = fields.String(metadata={"description": "Shown once; only its hash is stored."})


class CsrfTokenSchema(Schema):
    csrf_token = fields.String(
        metadata={"description": "Send as the X-CSRFToken header with session-authenticated writes."}
    )
