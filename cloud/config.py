"""Cloud service settings: one pydantic-settings class, validated at start-up.

A bad or missing value stops the process with one line naming the variable and the cause
(`settings_error_line`), never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

from cloud.access.anchor import load_private_key
from cloud.access.reasons import REASONS
from cloud.notify.sealing import check_keys
from cloud.secret_files import SecretFilesSource

ENV_PREFIX = "TRYGGHEIM_"

# Maxima that may not be below the setting they bound (declared after it, so it is validated first).
_AT_LEAST: Final[Mapping[str, str]] = {"token_max_days": "token_days", "login_delay_max_s": "login_delay_s"}
# Keys that must parse when set, and what parses each (it raises ValueError naming what is wrong): the Fernet
# keys that seal stored secrets, and the Ed25519 key that signs audit checkpoints.
_KEY_PARSERS: Final[Mapping[str, Callable[[str], object]]] = {
    "secrets_key": check_keys,
    "audit_signing_key": load_private_key,
}


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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then `TRYGGHEIM_<NAME>_FILE` secrets (cloud/secret_files.py)."""
        secret_files = SecretFilesSource(settings_cls, ENV_PREFIX)
        return init_settings, env_settings, secret_files, dotenv_settings, file_secret_settings

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
    # TimescaleDB only (ignored on plain PostgreSQL); set by every `tryggheim db upgrade` (cloud/db/timescale.py).
    observations_compress_after_days: int = Field(
        default=7, ge=1, le=3650, description="TimescaleDB: compress chunks of readings older than this many days."
    )
    observations_retention_days: int | None = Field(
        default=None,
        ge=1,
        description="TimescaleDB: delete readings older than this many days. Unset (the default): keep them all; "
        "health records are kept for years.",
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
    ingest_writers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Ingest transactions one process runs at once (connections of the gateway pool): the batches "
        "that arrive while they are busy are written together in the next (group commit).",
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
    env: Literal["development", "test", "production"] = Field(
        default="development",
        description="`production` refuses local accounts (auth_mode=local) and a staff provider without DPoP.",
    )
    # Sign-in through identity providers (cloud/access/federation.py, oidc_sign_in.py): HelseID or a compatible
    # provider for staff, ID-porten or a compatible one for citizens. Endpoints and keys come from each issuer's
    # metadata; only the issuer, our client and our API's names are configured.
    oidc_issuer: str | None = Field(
        default=None,
        description="Staff provider's issuer (HelseID), exactly as in its "
        "metadata; unset: no staff sign-in through a provider.",
    )
    oidc_client_id: str | None = Field(default=None, description="Our client at the staff provider.")
    oidc_client_key: SecretStr | None = Field(
        default=None, description="Private key (JWK JSON or PEM) for private_key_jwt client authentication."
    )
    oidc_client_key_file: Path | None = Field(default=None, description="A file holding that key instead.")
    oidc_audience: str = Field(default="tryggheim:api", description="Our API's audience in staff access tokens.")
    oidc_scope: str = Field(default="tryggheim:api/staff", description="The scope every staff API call needs.")
    token_binding: Literal["dpop_required", "bearer"] = Field(
        default="dpop_required",
        description="`dpop_required`: provider tokens only as DPoP with a proof (HelseID); `bearer`: Bearer only.",
    )
    citizen_issuer: str | None = Field(default=None, description="Citizens' provider's issuer (ID-porten).")
    citizen_client_id: str | None = Field(default=None, description="Our client at the citizens' provider.")
    citizen_client_key: SecretStr | None = Field(default=None, description="Its private key (JWK JSON or PEM).")
    citizen_client_key_file: Path | None = Field(default=None, description="A file holding that key instead.")
    citizen_audience: str = Field(default="tryggheim:citizen", description="Our API's audience in citizen tokens.")
    citizen_scope: str = Field(default="tryggheim:citizen/self", description="The scope citizen API calls need.")
    session_idle_minutes: int = Field(
        default=30, ge=1, le=600, description="A browser session unused this long ends (the absolute limit is 10 h)."
    )
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
    interop: bool = Field(
        default=True,
        description="Run the interoperability worker in this process: VKP journaling and PMD sharing for the "
        "municipalities that configured a client (cloud/interop).",
    )
    interop_tick_s: float = Field(default=5.0, gt=0, le=300, description="VKP journal and PMD sharing interval.")
    interop_backoff_s: float = Field(
        default=30.0, gt=0, le=3600, description="First retry of a failed journaling or sharing; doubles, max 1 h."
    )
    notify_max_attempts: int = Field(default=8, ge=1, le=50, description="Delivery attempts before dead-letter.")
    notify_backoff_s: float = Field(default=15.0, gt=0, le=3600, description="First retry delay; doubles per try.")
    public_url: str = Field(
        default="http://127.0.0.1:8080", description="Base of the links in e-mails and webhooks (/alerts/{id})."
    )
    notify_rate_window_s: float = Field(
        default=3600.0, ge=60, le=86400, description="Rate-limit window per municipality and channel."
    )
    notify_rate_email: int = Field(default=200, ge=1, description="E-mails per window and municipality.")
    notify_rate_webhook: int = Field(default=2000, ge=1, description="Webhook calls per window and municipality.")
    notify_rate_sms: int = Field(default=100, ge=1, description="SMS messages per window and municipality.")
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
    # The operations team, not a patient's nurses: the escalation auditor's red alerts and rate-limit trips.
    ops_webhook_url: str | None = Field(
        default=None,
        description="Operations webhook: the escalation auditor's red alerts and rate-limit trips (unset: log only).",
    )
    ops_webhook_secret: SecretStr | None = Field(default=None, description="HMAC secret signing those POSTs.")
    # Quarantine quota per gateway and clock hour: beyond it, refused readings are acknowledged and counted in
    # `quarantine_overflow` instead of stored. A working gateway never comes near it.
    quarantine_quota_readings: int = Field(
        default=2000, ge=1, le=10_000_000, description="Refused readings a gateway may add to the quarantine per hour."
    )
    quarantine_quota_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=64 * 1024,
        le=2**40,
        description="Payload bytes a gateway may add to the quarantine per hour (a kept reading is at most 6 KiB).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token `/metrics` requires when set (Prometheus `authorization` with this credential).",
    )
    # Audit anchoring (cloud/access/anchor.py): signed checkpoints of the audit chains, kept outside the
    # database. Which combinations make sense is checked at start-up (cloud/access/anchor_runner.py).
    audit_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 private key signing audit checkpoints (base64 of 32 bytes, or PEM); unset (and no "
        "key file): anchoring off.",
    )
    audit_signing_key_file: Path | None = Field(default=None, description="A file holding that key instead.")
    audit_checkpoint_file: Path | None = Field(
        default=None, description="JSON-lines file the checkpoints are appended to (storage the database owner "
        "cannot change).",
    )  # fmt: skip
    audit_checkpoint_url: str | None = Field(default=None, description="Webhook receiving the checkpoints.")
    audit_checkpoint_secret: SecretStr | None = Field(
        default=None, description="HMAC secret signing the POSTs to audit_checkpoint_url."
    )
    audit_checkpoint_s: float = Field(default=900.0, ge=1, le=86400, description="Seconds between checkpoints.")
    # Access (cloud/access): API token lifetimes, the sign-in throttle and the password-check pool.
    token_days: int = Field(default=30, ge=1, le=365, description="Lifetime of an API token that asks for none.")
    token_max_days: int = Field(
        default=90, ge=1, le=365, description="Longest lifetime a token may ask for (`expires_in_days`)."
    )
    login_free_failures: int = Field(
        default=5,
        ge=1,
        le=100,
        description="Failed sign-ins of one user from one client before each further one waits.",
    )
    login_delay_s: float = Field(
        default=30, gt=0, le=3600, description="First wait after the free failures; doubles with each further failure."
    )
    login_delay_max_s: float = Field(default=900, gt=0, le=86400, description="Longest wait between two failures.")
    login_window_s: float = Field(
        default=3600, gt=0, le=7 * 86400, description="A pair's failures are forgotten this long after its last one."
    )
    login_account_failures: int = Field(
        default=20, ge=1, le=10_000,
        description="Failures of one user from all clients after which a client that has failed for that user and "
        "never signed in as them must wait for the window; clients without failures are not held back.",
    )  # fmt: skip
    login_client_failures: int = Field(
        default=50, ge=1, le=100_000,
        description="Failures from one client for all users after which it may sign in only as users it has signed "
        "in as before, until the window passes.",
    )  # fmt: skip
    login_hash_threads: int = Field(default=2, ge=1, le=64, description="Threads checking passwords (argon2).")
    login_hash_queue: int = Field(
        default=64, ge=0, le=10_000, description="Sign-ins that may wait for a password check; more get 503 at once."
    )

    @field_validator("database_url", "database_owner_url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        return _check_postgres_url(value)

    @field_validator(*_AT_LEAST)
    @classmethod
    def _at_least(cls, value: float, info: ValidationInfo) -> float:
        floor = _AT_LEAST[str(info.field_name)]
        if value < info.data.get(floor, 0):
            raise ValueError(f"must be at least {ENV_PREFIX}{floor.upper()} ({info.data[floor]})")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        try:
            return [ip_network(item.strip(), strict=False) for item in value.split(",") if item.strip()]
        except ValueError as exc:
            raise ValueError(f"not an address or network ({exc})") from None

    @field_validator(*_KEY_PARSERS)
    @classmethod
    def _parsable_key(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            _KEY_PARSERS[str(info.field_name)](value.get_secret_value())
        return value

    @field_validator("audit_checkpoint_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value

    @model_validator(mode="after")
    def _production(self) -> CloudSettings:
        if self.env == "production" and self.auth_mode == "local":
            raise ValueError(
                "TRYGGHEIM_AUTH_MODE=local (demo accounts with passwords) is refused when TRYGGHEIM_ENV=production"
            )
        if self.env == "production" and self.oidc_issuer and self.token_binding == "bearer":  # noqa: S105 - a mode
            raise ValueError("TRYGGHEIM_TOKEN_BINDING must be dpop_required when TRYGGHEIM_ENV=production")
        return self

    def client_key(self, audience: Literal["staff", "citizen"]) -> str | None:
        """Our private key at the staff or citizens' provider: from the environment, or from its file."""
        value, path = (
            (self.oidc_client_key, self.oidc_client_key_file)
            if audience == "staff"
            else (self.citizen_client_key, self.citizen_client_key_file)
        )
        if value is not None:
            return value.get_secret_value()
        return path.read_text() if path is not None else None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    # Break-the-glass (cloud/access/emergency.py): how long a grant lasts, and the reasons staff may choose.
    emergency_access_hours: int = Field(
        default=4, ge=1, le=24, description="Hours an emergency access (break-the-glass) grant lasts."
    )
    emergency_access_reasons: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(REASONS),
        description="Comma-separated reason codes staff may choose for emergency access (cloud/access/reasons.py).",
    )

    @field_validator("emergency_access_reasons", mode="before")
    @classmethod
    def _reason_codes(cls, value: object) -> object:
        codes = [c.strip() for c in value.split(",") if c.strip()] if isinstance(value, str) else value
        if isinstance(codes, list):
            if not codes:
                raise ValueError("name at least one reason")
            if unknown := [c for c in codes if c not in REASONS]:
                raise ValueError(f"unknown reason codes {', '.join(map(str, unknown))}; known: {', '.join(REASONS)}")
        return codes


def settings_error_line(error: ValidationError) -> str:
    """One human line for the first invalid setting: `TRYGGHEIM_X: cause`."""
    first = error.errors()[0]
    message = str(first["msg"]).removeprefix("Value error, ")
    if not first["loc"]:  # a rule over several settings names them itself
        return message
    return f"{ENV_PREFIX}{str(first['loc'][0]).upper()}: {message}"
