"""Settings: config/defaults.toml overridden by RECYCLAB_* environment variables."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The key in config/defaults.toml: public, so anyone could sign an admin session cookie with it.
DEV_SECRET_KEY = "dev-only-not-secret"
# The longest an API token may live, asked for or as the default: a token forgotten on a
# machine stops working within a year.
TOKEN_LIFETIME_MAX_DAYS = 366


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
    token_lifetime_days: int
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


class SettingsError(ValueError):
    """A setting no command can work with; the message names its RECYCLAB_ variable."""


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
TIMESERIES_BACKENDS = ("sqlite", "influxdb")


def _variable(name: str) -> str:
    return f"RECYCLAB_{name.upper()}"


def _coerce(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        if raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise SettingsError(f"{_variable(name)}={raw!r}: give true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{_variable(name)}={raw!r}: give a whole number, e.g. {default}") from None
    return raw


def _check(values: dict[str, object]) -> None:
    """Refuse a value no command could use, naming it, before anything starts on it."""

    def refuse(name: str, why: str) -> None:
        raise SettingsError(f"{_variable(name)}={str(values[name])!r}: {why}")

    for name, least in (("session_idle_minutes", 1), ("proxy_hops", 0), ("live_stale_after_s", 1),
                        ("web_port", 1)):
        if int(values[name]) < least:  # type: ignore[call-overload]
            # session_idle_minutes 0 would not turn the timeout off but end every session at
            # its next request.
            refuse(name, f"must be {least} or more")
    if not 1 <= int(values["token_lifetime_days"]) <= TOKEN_LIFETIME_MAX_DAYS:  # type: ignore[call-overload]
        refuse("token_lifetime_days", f"give 1 to {TOKEN_LIFETIME_MAX_DAYS} days")
    if int(values["web_port"]) > 65535:  # type: ignore[call-overload]
        refuse("web_port", "must be a port number, 1 to 65535")
    if values["timeseries_backend"] not in TIMESERIES_BACKENDS:
        refuse("timeseries_backend", "must be 'sqlite' or 'influxdb'")
    try:
        ZoneInfo(str(values["timezone"]))
    except (ZoneInfoNotFoundError, ValueError):
        refuse("timezone", "not a time zone of the IANA database, e.g. Europe/Amsterdam")
    broker = urlsplit(str(values["broker_url"]))
    if broker.scheme not in ("mqtt", "mqtts") or not broker.hostname:
        refuse("broker_url", "give mqtt://host:port or mqtts://host:port")
    if values["secret_key_file"]:
        try:
            Path(str(values["secret_key_file"])).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            refuse("secret_key_file", f"cannot be read ({getattr(exc, 'strerror', None) or exc})")


def load_settings(overrides: dict[str, object] | None = None) -> Settings:
    with open(config_dir() / "defaults.toml", "rb") as fh:
        values: dict[str, object] = tomllib.load(fh)
    for name in list(values):
        env = os.environ.get(f"RECYCLAB_{name.upper()}")
        if env is not None:
            values[name] = _coerce(name, env, values[name])
    values.update(overrides or {})
    _check(values)

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
