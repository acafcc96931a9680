"""Typed settings, read from the environment and an optional `.env` file."""

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
# auto: readable console output on a terminal, JSON lines otherwise (a container, a file, a pipe).
LogFormat = Literal["auto", "json", "console"]
# none: connections straight to the database; transaction: through a pooler that hands each transaction
# to any server connection (PgBouncer's `pool_mode = transaction`).
DbPooler = Literal["none", "transaction"]
# Where spans go: an OTLP collector (over HTTP), standard output, or nowhere.
TracesExporter = Literal["otlp", "console", "none"]
TracesSampler = Literal[
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
]

ONE_MIB = 1024 * 1024
# DATABASE_URL's schemes: plain ones (Inkwell picks the async driver) and the drivers Inkwell ships with.
DATABASE_SCHEMES = frozenset(
    {
        *("sqlite", "postgresql", "postgres", "mysql", "mariadb"),
        *("sqlite+aiosqlite", "postgresql+asyncpg", "mysql+aiomysql"),
    }
)


class Settings(BaseSettings):
    """Every setting Inkwell reads. `DATABASE_URL` is unprefixed; the rest use `INKWELL_`."""

    model_config = SettingsConfigDict(
        env_prefix="INKWELL_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_by_name=True,
    )

    database_url: str = Field(
        default="sqlite:///./inkwell.db",
        validation_alias=AliasChoices("DATABASE_URL", "INKWELL_DATABASE_URL"),
        description="sqlite:///path, postgresql://..., or mysql://... (MariaDB/MySQL).",
    )
    log_level: LogLevel = "info"
    max_body_bytes: PositiveInt = ONE_MIB
    # One process keeps a connection for each request it serves at once: extra (overflow) connections
    # are opened and closed with every burst, which costs more than waiting for a pooled one.
    db_pool_size: PositiveInt = 32
    db_max_overflow: int = Field(default=0, ge=0)
    db_pool_timeout: float = Field(default=10.0, gt=0)
    db_connect_timeout: float = Field(default=5.0, gt=0)
    db_statement_timeout: float = Field(default=30.0, gt=0)
    db_echo: bool = False
    # Off: a ping costs a round trip per request. A connection the server dropped fails one request
    # with a 503, and the pool then replaces every connection it holds.
    db_pre_ping: bool = False
    # Behind a transaction-mode pooler, asyncpg keeps no prepared statement from one transaction to the
    # next: every statement is parsed again, which costs the statement cache's saving (see `make bench`).
    db_pooler: DbPooler = Field(
        default="none",
        description="none (direct connections) or transaction (behind PgBouncer's transaction mode).",
    )
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    log_format: LogFormat = "auto"
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")
    # Set (32 bytes or more), /metrics answers only requests with `Authorization: Bearer <token>`; unset,
    # anyone who reaches it may read it.
    metrics_token: SecretStr | None = None
    # Set, the metrics of every process serving the app are kept in files there and added up at each
    # scrape; `inkwell serve --workers N` sets it (to a directory of its own unless this names one).
    metrics_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("INKWELL_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR")
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Origins allowed by CORS, comma-separated; empty turns CORS off."
    )
    ready_timeout: float = Field(default=2.0, gt=0, description="Seconds /readyz waits for the database.")
    # Net allocations between two collections of cyclic garbage (Python's default is 700).
    gc_threshold: PositiveInt = 20_000
    # The deepest `offset` a list takes: the database walks past every row it skips, so a deep one costs
    # a scan (keyset pages, `after=`, cost the same at any depth).
    max_offset: int = Field(default=10_000, ge=0, le=2**31 - 1)
    idempotency_ttl: float = Field(default=24 * 60 * 60, gt=0)
    idempotency_purge_interval: float = Field(default=60 * 60, gt=0)

    # Sign-in. Off, the API is open to anyone (the tutorial's behaviour): for prototyping only.
    auth: bool = Field(default=True, description="on (the default) or off.")
    # At least 32 bytes, checked where tokens are signed (the API), so that commands that sign nothing
    # (migrations, the worker) run without it. Unset with SQLite, a key is generated once into
    # `secret_key_file`.
    secret_key: SecretStr | None = None
    secret_key_file: Path | None = Field(
        default=None, description="Where a generated key is kept (default: beside the SQLite database)."
    )
    access_token_ttl: PositiveInt = Field(default=15 * 60, description="Seconds an access token lasts.")
    refresh_token_ttl: PositiveInt = Field(
        default=14 * 24 * 60 * 60, description="Seconds a session lasts without being refreshed."
    )
    session_max_age: PositiveInt = Field(
        default=30 * 24 * 60 * 60,
        description="Seconds a session lasts at most from its sign-in, however often it is refreshed.",
    )
    # The password `inkwell users create-admin` gives the new admin when set (otherwise it asks for one).
    admin_password: SecretStr | None = None
    # Argon2id cost: pwdlib's (and RFC 9106's second recommended) parameters by default.
    password_time_cost: PositiveInt = 3
    password_memory_kib: int = Field(default=64 * 1024, ge=8)
    password_parallelism: PositiveInt = 4
    # Admission to hashing: hashings at once (unset: one per `password_parallelism` cores, at least one,
    # since each hashing keeps that many threads busy), requests waiting for a turn, and how long one
    # waits. Past the queue, or after the wait, a request is refused with a 503. A waiter holds no hashing
    # memory and the wait is bounded, so the queue can be long: a client refused at once sends its next
    # request at once, and a flood of refusals costs the other requests much more than waiting does.
    password_hash_concurrency: PositiveInt | None = None
    password_hash_queue: int = Field(default=64, ge=0)
    password_hash_timeout: PositiveFloat = 5.0
    # Steps below the server's own CPU priority that hashing runs at, on Linux (0: the same priority).
    password_hash_nice: int = Field(default=10, ge=0, le=19)
    # Password attempts allowed per account, and per client address, within the window, before a 429.
    # An address is shared by everyone behind one NAT or proxy: its limit is much higher.
    login_max_failures: PositiveInt = Field(default=5, description="Password attempts per account.")
    login_max_failures_per_address: PositiveInt = Field(
        default=100, description="Password attempts per client address."
    )
    login_failure_window: PositiveInt = Field(default=15 * 60, description="Seconds.")
    # Verification and reset mails sent to one address, and asked for from one client address.
    mail_request_limit: PositiveInt = Field(default=3, description="Mails sent to one address.")
    mail_request_limit_per_address: PositiveInt = Field(
        default=10, description="Mails asked for from one client address."
    )
    mail_request_window: PositiveInt = Field(default=60 * 60, description="Seconds.")
    # Sign-ups (each hashes a password) from one client address, with sign-in on.
    sign_up_limit_per_address: PositiveInt = Field(default=30, description="Sign-ups per client address.")
    sign_up_window: PositiveInt = Field(default=60 * 60, description="Seconds.")
    # Tokens mailed to an account's address; each works once.
    verify_token_ttl: PositiveInt = Field(
        default=24 * 60 * 60, description="Seconds an email verification token lasts."
    )
    reset_token_ttl: PositiveInt = Field(default=60 * 60, description="Seconds a password reset token lasts.")

    # Redis: the job queue's broker and the cache. Unset, jobs run in-process and nothing is cached.
    redis_url: SecretStr | None = None
    redis_prefix: str = Field(default="inkwell", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    redis_timeout: PositiveFloat = 0.5
    cache_ttl: PositiveInt = 300

    # Mail: sent over SMTP when a URL is set. Otherwise each message is only noted in the log (recipient's
    # domain and subject); its body, tokens included, too when `mail_log_body` is on (development only).
    smtp_url: SecretStr | None = None
    mail_log_body: bool = False
    smtp_timeout: PositiveFloat = 30.0
    mail_from: str = "Inkwell <no-reply@inkwell.localhost>"
    public_url: str = "http://127.0.0.1:8000"

    # Background jobs (the outbox and the queue).
    job_max_attempts: PositiveInt = 5
    job_retry_delay: PositiveFloat = 5.0
    job_retry_max_delay: PositiveFloat = 600.0
    job_timeout: PositiveInt = 60
    job_poll_interval: PositiveFloat = 1.0
    job_sweep_interval: PositiveInt = 10
    job_keep_finished_days: PositiveInt = 7
    worker_concurrency: PositiveInt = 4

    # Traces (OpenTelemetry), by the standard OTEL_* variables (see inkwell.tracing and docs/tracing.md):
    # off unless an exporter or an OTLP endpoint is named. Each is read under its standard name alone.
    otel_sdk_disabled: bool = Field(
        default=False,
        validation_alias=AliasChoices("OTEL_SDK_DISABLED"),
        description="true turns tracing off whatever else is set.",
    )
    otel_traces_exporter: TracesExporter | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_TRACES_EXPORTER"),
        description="Where spans go; unset, to OTLP when an OTLP endpoint is set, else nowhere (off).",
    )
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="The OTLP collector (HTTP, port 4318); spans go to its /v1/traces.",
    )
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
        description="The full URL spans are posted to; wins over OTEL_EXPORTER_OTLP_ENDPOINT.",
    )
    # Inkwell ships the HTTP exporter only: a collector's gRPC port would not understand it.
    otel_exporter_otlp_protocol: Literal["http/protobuf"] | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_PROTOCOL"),
        description="The only one Inkwell sends (no gRPC).",
    )
    otel_exporter_otlp_traces_protocol: Literal["http/protobuf"] | None = Field(
        default=None,
        validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
        description="The only one Inkwell sends (no gRPC).",
    )
    otel_service_name: str = Field(
        default="inkwell",
        min_length=1,
        validation_alias=AliasChoices("OTEL_SERVICE_NAME"),
        description="service.name on every span.",
    )
    otel_traces_sampler: TracesSampler = Field(
        default="parentbased_always_on",
        validation_alias=AliasChoices("OTEL_TRACES_SAMPLER"),
        description="Which traces are kept; parentbased_ ones follow an incoming traceparent.",
    )
    otel_traces_sampler_arg: float = Field(
        default=1.0,
        ge=0,
        le=1,
        validation_alias=AliasChoices("OTEL_TRACES_SAMPLER_ARG"),
        description="The share of traces the traceidratio samplers keep.",
    )

    @property
    def hashing_concurrency(self) -> int:
        """Hashings allowed at once: the setting, or as many as the cores keep busy."""
        if self.password_hash_concurrency is not None:
            return self.password_hash_concurrency
        return max(1, (os.cpu_count() or 1) // self.password_parallelism)

    @field_validator(
        "log_level", "log_format", "db_pooler", "otel_traces_exporter", "otel_traces_sampler", mode="before"
    )
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("secret_key", "metrics_token", "admin_password", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _database_scheme(cls, value: str) -> str:
        # The message never repeats the URL: it may carry a password.
        try:
            scheme = make_url(value).drivername
        except (ArgumentError, ValueError):
            raise ValueError(f"is not a database URL, like {_DATABASE_EXAMPLE}") from None
        if scheme not in DATABASE_SCHEMES:
            schemes = "sqlite://, postgresql:// or mysql:// (or mariadb://)"
            raise ValueError(f"must start with {schemes}, like {_DATABASE_EXAMPLE}")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _strong_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            refuse_weak_secret(value.get_secret_value())
        return value

    @field_validator(
        "smtp_url",
        "redis_url",
        "otel_traces_exporter",
        "otel_exporter_otlp_endpoint",
        "otel_exporter_otlp_traces_endpoint",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `INKWELL_SMTP_URL=` (as compose passes an unset variable) means no URL.
        return None if value == "" else value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        return _require_scheme(value, ("smtp://", "smtps://"), "smtp://user:password@host:587")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        return _require_scheme(value, ("redis://", "rediss://", "unix://"), "redis://host:6379/0")

    @field_validator("otel_exporter_otlp_endpoint", "otel_exporter_otlp_traces_endpoint")
    @classmethod
    def _otlp_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, like http://collector:4318")
        return value


_DATABASE_EXAMPLE = "postgresql://user:password@host:5432/inkwell"
MIN_SECRET_BYTES = 32
_PLACEHOLDERS = ("change", "secret", "example", "placeholder", "replace", "your", "xxx", "todo")


def refuse_weak_secret(key: str) -> None:
    """Raise ValueError for a key too short to sign tokens with, or one copied from an example."""
    if len(key.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes (try `openssl rand -hex 32`)")
    lowered = key.lower()
    if any(word in lowered for word in _PLACEHOLDERS) or len(set(key)) < 8:
        raise ValueError("looks like a placeholder; generate one with `openssl rand -hex 32`")


def _require_scheme(value: SecretStr | None, schemes: tuple[str, ...], example: str) -> SecretStr | None:
    # The message never repeats the URL: it may carry a password.
    if value is not None and not value.get_secret_value().startswith(schemes):
        raise ValueError(f"must start with {' or '.join(schemes)}, like {example}")
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
