"""Settings: config/defaults.toml overridden by RECYCLAB_* environment variables."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The key in config/defaults.toml: public, so anyone could sign an admin session cookie with it.
DEV_SECRET_KEY = "dev-only-not-secret"


def config_dir() -> Path:
    return Path(os.environ.get("RECYCLAB_CONFIG_DIR", PROJECT_ROOT / "config"))


@dataclass(frozen=True)
class Settings:
    var_dir: Path
    database_url: str
    broker_url: str
    broker_username: str
    broker_password: str
    timeseries_backend: str
    timeseries_sqlite_path: Path
    influx_url: str
    influx_token: str
    influx_org: str
    influx_bucket: str
    secret_key: str
    secret_key_file: str
    session_idle_minutes: int
    web_host: str
    web_port: int
    timezone: str
    lab_name: str
    public_url: str
    proxy_hops: int
    signing_key_file: str
    live_stale_after_s: int
    simulated_data: bool

    def session_secret(self) -> str:
        """The cookie-signing key: the key file's content when one is named, else secret_key."""
        if self.secret_key_file:
            return Path(self.secret_key_file).read_text().strip()
        return self.secret_key

    @property
    def uses_https(self) -> bool:
        return self.public_url.lower().startswith("https://")

    def public_dict(self) -> dict[str, object]:
        """The settings without secrets, for logs and the health page."""
        hidden = {"secret_key", "broker_password", "influx_token"}
        return {f.name: str(getattr(self, f.name)) for f in fields(self) if f.name not in hidden}


def _coerce(raw: str, default: object) -> object:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw


def load_settings(overrides: dict[str, object] | None = None) -> Settings:
    with open(config_dir() / "defaults.toml", "rb") as fh:
        values: dict[str, object] = tomllib.load(fh)
    for name in list(values):
        env = os.environ.get(f"RECYCLAB_{name.upper()}")
        if env is not None:
            values[name] = _coerce(env, values[name])
    values.update(overrides or {})
    if int(values["session_idle_minutes"]) < 1:  # type: ignore[call-overload]
        # 0 would not turn the timeout off but end every session at its next request.
        raise ValueError("RECYCLAB_SESSION_IDLE_MINUTES (session_idle_minutes) must be 1 or more")

    var_dir = Path(str(values["var_dir"]))
    if not var_dir.is_absolute():
        var_dir = PROJECT_ROOT / var_dir
    values["var_dir"] = var_dir
    values["database_url"] = _resolve_sqlite_url(str(values["database_url"]), var_dir)
    ts_path = Path(str(values["timeseries_sqlite_path"]))
    values["timeseries_sqlite_path"] = ts_path if ts_path.is_absolute() else var_dir / ts_path
    return Settings(**values)  # type: ignore[arg-type]


def _resolve_sqlite_url(url: str, var_dir: Path) -> str:
    """sqlite:///name.db is taken relative to var_dir; sqlite:////abs/path stays as it is."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(var_dir / url[len(prefix) :])
    return url
