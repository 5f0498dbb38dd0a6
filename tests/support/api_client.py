"""An API test client acting as one user, with that user's bearer token."""

from __future__ import annotations

from dataclasses import dataclass

from flask.testing import FlaskClient

API = "/api/v1"


@dataclass
class Caller:
    """Paths are relative to /api/v1."""

    client: FlaskClient
    username: str
    token: str

    def _call(self, method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(API + path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self._call("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self._call("POST", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self._call("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self._call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self._call("DELETE", path, **kwargs)
