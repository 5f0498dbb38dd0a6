"""Organizations and users (administration)."""

from __future__ import annotations

from flask.views import MethodView
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from lims.kernel.errors import N_, InputError, NotFound
from lims.kernel.models import Organization, User
from lims.people import accounts as auth_service
from lims.people.schemas import (
    OrganizationSchema,
    OrganizationUpdateSchema,
    UserCreateSchema,
    UserSchema,
    UserUpdateSchema,
)
from lims.permissions import Capability, require, scope_organizations
from lims.web.api_blueprint import blueprint, page
from lims.web.auth import keep_session, require_user
from lims.web.request_db import db

orgs_blp = blueprint("organizations", "/organizations", "The lab, customers and suppliers.")
users_blp = blueprint("users", "/users", "Users and roles (admin).")
BLUEPRINTS = (orgs_blp, users_blp)


def _orgs(user: User):
    return scope_organizations(select(Organization).order_by(Organization.id), user)


def _org(user: User, key: str) -> Organization:
    org = db().scalar(_orgs(user).where(Organization.key == key))
    if org is None:
        raise NotFound(f"organization {key!r} not found")
    return org


@orgs_blp.route("")
class Organizations(MethodView):
    @orgs_blp.response(200, OrganizationSchema(many=True))
    @orgs_blp.paginate()
    def get(self, pagination_parameters):
        return page(_orgs(require_user()), pagination_parameters)

    @orgs_blp.arguments(OrganizationSchema)
    @orgs_blp.response(201, OrganizationSchema)
    def post(self, data: dict):
        return auth_service.create_organization(db(), require_user(), **data)


@orgs_blp.route("/<key>")
class OrganizationByKey(MethodView):
    @orgs_blp.response(200, OrganizationSchema)
    def get(self, key: str):
        return _org(require_user(), key)

    @orgs_blp.arguments(OrganizationUpdateSchema)
    @orgs_blp.response(200, OrganizationSchema)
    def patch(self, data: dict, key: str):
        user = require_user()
        return auth_service.update_organization(db(), user, _org(user, key), data)


@users_blp.route("")
class Users(MethodView):
    @users_blp.response(200, UserSchema(many=True))
    @users_blp.paginate()
    def get(self, pagination_parameters):
        require(require_user(), Capability.ADMINISTER, N_("list users"))
        return page(select(User).options(joinedload(User.organization)).order_by(User.id), pagination_parameters)

    @users_blp.arguments(UserCreateSchema)
    @users_blp.response(201, UserSchema)
    def post(self, data: dict):
        caller = require_user()
        # Before the organization is looked up: a refusal must not depend on the key asked for.
        auth_service.administer(caller, N_("create users"))
        org = db().scalar(select(Organization).where(Organization.key == data.pop("organization")))
        if org is None:
            raise InputError("organization", "unknown organization")
        return auth_service.create_user(db(), caller, organization=org, **data)


@users_blp.route("/<username>")
class UserByName(MethodView):
    @users_blp.response(200, UserSchema)
    def get(self, username: str):
        return auth_service.user_named(db(), require_user(), username)

    @users_blp.arguments(UserUpdateSchema)
    @users_blp.response(200, UserSchema)
    def patch(self, data: dict, username: str):
        caller = require_user()
        user = auth_service.update_user(db(), caller, auth_service.user_named(db(), caller, username), data)
        if user.id == caller.id:  # one's own password change keeps the session making it
            keep_session(user)
        return user
