"""Cloud service settings: one pydantic-settings class, validated at start-up.

A bad or missing value stops the process with one line naming the variable and the cause
(`settings_error_line`), never a traceback.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from cloud.notify.sealing import check_keys

ENV_PREFIX = "TRYGGHEIM_"


def _check_postgres_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"postgresql", "postgres"}:
        raise ValueError(f"scheme must be postgresql://, got {parts.scheme or 'none'!r}")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"port is not a number ({exc})") from None
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("no host given")
    if port == 0:
        raise ValueError("port 0 is not a port")
    if not parts.path.strip("/"):
        raise ValueError("no database name given (postgresql://user:password@host:port/DATABASE)")
    return value


class CloudSettings(BaseSettings):
    """Settings of a cloud process (`tryggheim cloud serve`, `tryggheim demo`, `tryggheim db ...`)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str | None = Field(
        default=None,
        description="Runtime connection (a role without DDL). Unset: a private embedded PostgreSQL.",
    )
    database_owner_url: str | None = Field(
        default=None, description="Connection that owns the schema; used by `tryggheim db upgrade`."
    )
    state_dir: Path = Field(
        default=Path.home() / ".local" / "state" / "tryggheim",
        description="Where the embedded database and other local state live.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    db_connect_timeout_s: float = Field(default=5.0, gt=0, le=60)
    db_pool_min: int = Field(default=1, ge=0, le=100)
    db_pool_max: int = Field(default=10, ge=1, le=200)
    # Gateway traffic and request bodies: what one gateway, or any number of them, may hold.
    db_gateway_pool_max: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Connections of the pool that only gateway routes (ingest, heartbeat, config, enrolment) use; "
        "staff, workers and health checks use the other pool (db_pool_min/db_pool_max), which gateways never touch.",
    )
    body_timeout_s: float = Field(
        default=20.0,
        gt=0,
        le=300,
        description="Time a client has, from its request headers, to send the whole body; then 408 and the "
        "connection is closed.",
    )
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed (the client address decides the sign-in and enrolment throttles). "
        "Empty: none, the peer address is the client.",
    )
    auth_mode: Literal["local", "oidc"] = Field(
        default="oidc", description="`local`: demo accounts with passwords; `oidc`: HelseID (production)."
    )
    cookie_secure: bool = Field(default=True, description="Session cookies only over HTTPS.")
    evaluation: bool = Field(
        default=True,
        description="Run the alert evaluation worker and its scheduler in this process (cloud/evaluation).",
    )
    allow_synthetic_ids: bool = Field(
        default=False,
        description="Accept synthetic test identity numbers (NAV +40 and Skatteetaten Tenor +80 month) in the "
        "registry; for test environments only.",
    )
    baseline_trial_days: int = Field(
        default=14, ge=14, le=28, description="Trial period before personal limits are proposed (2-4 weeks)."
    )
    escalation: bool = Field(
        default=True, description="Run the escalation engine and notification outbox in this process."
    )
    escalation_minute_s: float = Field(
        default=60.0, gt=0, le=60, description="Length of a policy minute in seconds (shorter only in demo/tests)."
    )
    escalation_tick_s: float = Field(default=5.0, gt=0, le=300, description="Escalation and outbox poll interval.")
    notify_max_attempts: int = Field(default=8, ge=1, le=50, description="Delivery attempts before dead-letter.")
    notify_backoff_s: float = Field(default=15.0, gt=0, le=3600, description="First retry delay; doubles per try.")
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base of the links in e-mails and webhooks (/alerts/{id})."
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for e-mail notifications (unset: none).")
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = "tryggheim@localhost"
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    secrets_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, sealing webhook secrets at rest (cloud/notify/sealing.py).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token `/metrics` requires when set (Prometheus `authorization` with this credential).",
    )

    @field_validator("database_url", "database_owner_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return _check_postgres_url(value)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return [ip_network(item.strip(), strict=False) for item in value.split(",") if item.strip()]
        except ValueError as exc:
            raise ValueError(f"not an address or network ({exc})") from None

    @field_validator("secrets_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_keys(value.get_secret_value())
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


def settings_error_line(error: ValidationError) -> str:
    """One human line for the first invalid setting: `TRYGGHEIM_X: cause`."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "settings"
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{ENV_PREFIX}{field.upper()}: {message}"
