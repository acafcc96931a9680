"""Typed settings, read from the environment and an optional `.env` file."""

import math
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AliasChoices,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

LogLevel = Literal["debug", "info", "warning", "error", "critical"]
# auto: readable console output on a terminal, JSON lines otherwise (a container, a file, a pipe).
LogFormat = Literal["auto", "json", "console"]
# none: connections straight to the database; transaction: through a pooler that hands each transaction
# to any server connection (PgBouncer's `pool_mode = transaction`).
DbPooler = Literal["none", "transaction"]
# Where spans go: an OTLP collector, standard output, or nowhere.
TracesExporter = Literal["otlp", "console", "none"]
# How spans reach an OTLP collector: Inkwell ships the HTTP exporter only (no gRPC).
OtlpProtocol = Literal["http/protobuf"]

ONE_MIB = 1024 * 1024
# DATABASE_URL's schemes: plain ones (Inkwell picks the async driver) and the drivers Inkwell ships with.
DATABASE_SCHEMES = frozenset(
    {
        *("sqlite", "postgresql", "postgres", "mysql", "mariadb"),
        *("sqlite+aiosqlite", "postgresql+asyncpg", "mysql+aiomysql"),
    }
)


class Settings(BaseSettings):
    """Every setting Inkwell reads. `DATABASE_URL` is unprefixed; the rest use `INKWELL_`.

    Each field's docstring is its description, which the documentation's table of settings shows.
    """

    model_config = SettingsConfigDict(
        env_prefix="INKWELL_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_by_name=True,
        use_attribute_docstrings=True,
    )

    database_url: str = Field(
        default="sqlite:///./inkwell.db",
        validation_alias=AliasChoices("DATABASE_URL", "INKWELL_DATABASE_URL"),
    )
    """The database: `sqlite:///path`, `postgresql://...`, or `mysql://...` (or `mariadb://`) for MariaDB
    and MySQL."""
    log_level: LogLevel = "info"
    """The lowest level of the lines logged."""
    max_body_bytes: PositiveInt = ONE_MIB
    """Largest request body accepted, in bytes; a larger one is a 413."""
    # One process keeps a connection for each request it serves at once: extra (overflow) connections
    # are opened and closed with every burst, which costs more than waiting for a pooled one.
    db_pool_size: PositiveInt = 32
    """Connections kept open per process (each `--workers` process has its own pool)."""
    db_max_overflow: int = Field(default=0, ge=0)
    """Extra connections opened, and closed again, under bursts."""
    db_pool_timeout: float = Field(default=10.0, gt=0)
    """Seconds a request waits for a pooled connection before a 503."""
    db_connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to open a database connection before a 503."""
    db_statement_timeout: float = Field(default=30.0, gt=0)
    """Seconds one statement may take on PostgreSQL before a 503."""
    db_echo: bool = False
    """Log every SQL statement (never its parameters, which database errors leave out too)."""
    # Off: a ping costs a round trip per request. A connection the server dropped fails one request
    # with a 503, and the pool then replaces every connection it holds.
    db_pre_ping: bool = False
    """Test each connection with a round trip before use."""
    # Behind a transaction-mode pooler, asyncpg keeps no prepared statement from one transaction to the
    # next: every statement is parsed again, which costs the statement cache's saving (see `make bench`).
    db_pooler: DbPooler = "none"
    """`none` (connections straight to the database) or `transaction` (behind a transaction-mode pooler,
    such as PgBouncer's `pool_mode = transaction`)."""
    # Read replicas (PostgreSQL streaming replicas): see docs/operations.md#read-replicas.
    db_replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """PostgreSQL streaming replicas that the routes which may read slightly old data read from,
    comma-separated (`postgresql://inkwell:pw@replica1:5432/inkwell,postgresql://...`); empty, every read
    goes to `DATABASE_URL`."""
    db_replica_max_lag: PositiveFloat = 10.0
    """Seconds a replica may be behind the primary before reads skip it, until it catches up."""
    db_replica_wait: float = Field(default=0.02, ge=0)
    """Seconds a read that must see a write (its position) waits for a replica to replay it, before it
    reads from the primary instead."""
    db_replica_check_interval: PositiveFloat = 1.0
    """Seconds between the checks of each replica's lag, and of a replica found down."""
    db_position_ttl: PositiveFloat = 30.0
    """Seconds a signed-in user's last write is remembered, so that their reads see it on any replica."""
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    """Milliseconds a SQLite writer waits for the write lock."""
    log_format: LogFormat = "auto"
    """`json`, `console`, or `auto`: console on a terminal, JSON otherwise."""
    metrics: bool = True
    """Serve Prometheus metrics at `/metrics`; `false` removes the route."""
    metrics_token: SecretStr | None = None
    """32 bytes or more: `/metrics` then answers only `Authorization: Bearer <token>`. Unset, anyone who
    reaches it may read it."""
    # `inkwell serve --workers N` sets it, to a directory of its own unless this names one.
    metrics_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("INKWELL_METRICS_DIR", "PROMETHEUS_MULTIPROC_DIR")
    )
    """Where the processes serving the app keep their metrics, added up at each scrape."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed by CORS, comma-separated (`https://a.example,https://b.example`); empty turns CORS
    off."""
    ready_timeout: float = Field(default=2.0, gt=0)
    """Seconds `/readyz` waits for the database before answering 503."""
    gc_threshold: PositiveInt = 20_000
    """Net allocations between collections of cyclic garbage while serving (Python's default is 700)."""
    # The database walks past every row an offset skips, so a deep one costs a scan (keyset pages,
    # `after=`, cost the same at any depth).
    max_offset: int = Field(default=10_000, ge=0, le=2**31 - 1)
    """The deepest `offset` a list takes: 422 beyond it (`after=` pages at any depth)."""
    # Ranking reads each match: bounding the matches ranked bounds what any search costs (docs/search.md).
    search_rank_window: PositiveInt = 1_000
    """How many of a search's newest matches are ranked, best first; older matches follow them, newest
    first."""
    search_scan_rows: PositiveInt = 50_000
    """A word expected in more posts than this is common: MariaDB reads at most this many of the newest
    posts for it rather than its full-text index (InnoDB's, from a tenth of this), and SQLite ranks it
    without bm25."""
    idempotency_ttl: float = Field(default=24 * 60 * 60, gt=0)
    """Seconds an `Idempotency-Key` and its response are kept."""
    purge_interval: float = Field(
        default=60 * 60,
        gt=0,
        validation_alias=AliasChoices("INKWELL_PURGE_INTERVAL", "INKWELL_IDEMPOTENCY_PURGE_INTERVAL"),
    )
    """Seconds between the background purges of each API process: expired idempotency keys, finished
    jobs, ended sessions, spent tokens, and on MariaDB with Mroonga the search texts no post holds
    (`INKWELL_IDEMPOTENCY_PURGE_INTERVAL`, its earlier name, is still read)."""

    # Sign-in. Off, the API is open to anyone (the tutorial's behaviour): for prototyping only.
    auth: bool = True
    """Sign-in and its checks; `off` serves the tutorial's open API instead (for prototyping only)."""
    # Checked where tokens are signed (the API), so that commands that sign nothing (migrations, the
    # worker) run without it.
    secret_key: SecretStr | None = None
    """The key that signs tokens, 32 bytes or more. Unset with SQLite, a key is generated once into
    `INKWELL_SECRET_KEY_FILE`; PostgreSQL and MariaDB need it set."""
    secret_key_file: Path | None = None
    """Where a generated key is kept (default: `inkwell-secret.key` beside the SQLite database)."""
    access_token_ttl: PositiveInt = 15 * 60
    """Seconds an access token lasts."""
    refresh_token_ttl: PositiveInt = 14 * 24 * 60 * 60
    """Seconds a session lasts without being refreshed."""
    session_max_age: PositiveInt = 30 * 24 * 60 * 60
    """Seconds a session lasts at most from its sign-in, however often it is refreshed."""
    admin_password: SecretStr | None = None
    """The password `inkwell users create-admin` gives the new admin, instead of asking for one."""
    # Argon2id cost: pwdlib's (and RFC 9106's second recommended) parameters by default.
    password_time_cost: PositiveInt = 3
    """Argon2id's time cost: passes over the memory."""
    password_memory_kib: int = Field(default=64 * 1024, ge=8)
    """Argon2id's memory cost, in KiB, held by each hashing while it runs."""
    password_parallelism: PositiveInt = 4
    """Argon2id's lanes: the threads each hashing keeps busy."""
    # Admission to hashing. A waiter holds no hashing memory and the wait is bounded, so the queue can be
    # long: a client refused at once sends its next request at once, and a flood of refusals costs the
    # other requests much more than waiting does.
    password_hash_concurrency: PositiveInt | None = None
    """Hashings at once (unset: one per `INKWELL_PASSWORD_PARALLELISM` cores, at least one)."""
    password_hash_queue: int = Field(default=64, ge=0)
    """Requests that may wait for a turn to hash; past them, a 503."""
    password_hash_timeout: PositiveFloat = 5.0
    """Seconds a request waits for a turn to hash before a 503."""
    password_hash_nice: int = Field(default=10, ge=0, le=19)
    """Steps below the server's own CPU priority that hashing runs at, on Linux (0: the same priority)."""
    # An address is shared by everyone behind one NAT or proxy: its limit is much higher.
    login_max_failures: PositiveInt = 5
    """Password attempts per account from one client address within the window, before a 429."""
    login_max_failures_per_account: PositiveInt = 20
    """Password attempts per account from all client addresses within the window, before a 429."""
    login_max_failures_per_address: PositiveInt = 100
    """Password attempts per client address within the window, before a 429."""
    login_failure_window: PositiveInt = 15 * 60
    """Seconds over which password attempts are counted."""
    mail_request_limit: PositiveInt = 3
    """Verification, reset and new-email mails sent to one address within the window."""
    mail_request_limit_per_address: PositiveInt = 10
    """Those mails asked for from one client address within the window."""
    mail_request_window: PositiveInt = 60 * 60
    """Seconds over which those mails are counted."""
    # Each sign-up hashes a password.
    sign_up_limit_per_address: PositiveInt = 30
    """Sign-ups from one client address within the window, with sign-in on."""
    sign_up_window: PositiveInt = 60 * 60
    """Seconds over which sign-ups are counted."""
    # Search is public, and each search costs more than a page of a list: well above what a person types.
    search_limit_per_address: PositiveInt = 300
    """Searches (`q=`) from one client address within the window, before a 429."""
    search_window: PositiveInt = 60
    """Seconds over which searches are counted."""
    # Learning the mail flows means asking for mails, and mistyping passwords, more often than anyone
    # would in use: the counts stay, the time they take to pass is a minute (unless a window is set).
    dev_mode: bool = False
    """Development: the sign-in, sign-up and mail limits count over a minute instead of their windows, so
    that reaching one while trying the flows costs a minute, not an hour. Never in production."""
    verify_token_ttl: PositiveInt = 24 * 60 * 60
    """Seconds an email verification token lasts."""
    reset_token_ttl: PositiveInt = 60 * 60
    """Seconds a password reset token lasts, and a new email's too."""

    redis_url: SecretStr | None = None
    """`redis://host:6379/0` (or `rediss://`, `unix://`): the job queue's broker and the cache. Unset,
    jobs run in the API process and nothing is cached."""
    redis_prefix: str = Field(default="inkwell", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    """Prefix of every key (cache, queue), so that several deployments can share one Redis."""
    redis_timeout: PositiveFloat = 0.5
    """Seconds the cache waits for Redis before serving from the database."""
    cache_ttl: PositiveInt = 300
    """Seconds a cache entry lives at most."""

    smtp_url: SecretStr | None = None
    """`smtp://user:password@host:587` or `smtps://...`: where mail goes. Unset, each message is only
    noted in the log (the recipient's domain and the subject)."""
    mail_log_body: bool = False
    """Without `INKWELL_SMTP_URL`, log each mail whole, tokens included (development only)."""
    smtp_timeout: PositiveFloat = 30.0
    """Seconds for connecting and for each reply of the mail server."""
    mail_from: str = "Inkwell <no-reply@inkwell.localhost>"
    """The sender of every message."""
    public_url: str = "http://127.0.0.1:8000"
    """Where the API is reached, for the instructions in mail."""

    job_max_attempts: PositiveInt = 5
    """Attempts before a job goes dead."""
    job_retry_delay: PositiveFloat = 5.0
    """Seconds before a job's first retry; each next one waits up to twice as long, with jitter."""
    job_retry_max_delay: PositiveFloat = 600.0
    """Seconds a retry waits at most."""
    job_timeout: PositiveInt = 60
    """Seconds one attempt may take; past it, it counts as failed."""
    job_poll_interval: PositiveFloat = 1.0
    """Seconds between looks at the outbox."""
    job_sweep_interval: PositiveInt = 10
    """Seconds between saq's looks for the jobs of dead workers."""
    job_keep_finished_days: PositiveInt = 7
    """Days done and dead jobs are kept, for `inkwell jobs list` and `retry`."""
    worker_concurrency: PositiveInt = 4
    """Jobs one worker process runs at once."""

    # Traces (OpenTelemetry), by the standard OTEL_* variables (see inkwell.tracing and docs/tracing.md):
    # off unless an exporter or an OTLP endpoint is named. These are the ones Inkwell decides on, each
    # read under its standard name alone, from the environment alone (see `settings_customise_sources`);
    # the OpenTelemetry SDK reads the others (service name, sampler, headers...) itself.
    otel_sdk_disabled: bool = Field(default=False, validation_alias=AliasChoices("OTEL_SDK_DISABLED"))
    """`true` turns tracing off, whatever else is set."""
    otel_traces_exporter: TracesExporter | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_TRACES_EXPORTER")
    )
    """Where spans go; unset, to OTLP when an OTLP endpoint is set, else nowhere (tracing off)."""
    otel_exporter_otlp_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT")
    )
    """The OTLP collector, over HTTP (its port 4318); spans are posted to its `/v1/traces`."""
    otel_exporter_otlp_traces_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )
    """The full URL spans are posted to; it wins over `OTEL_EXPORTER_OTLP_ENDPOINT`."""
    otel_exporter_otlp_protocol: OtlpProtocol | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_PROTOCOL")
    )
    """The OTLP protocol: Inkwell sends `http/protobuf` only (no gRPC)."""
    otel_exporter_otlp_traces_protocol: OtlpProtocol | None = Field(
        default=None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
    )
    """The OTLP protocol of traces; it wins over `OTEL_EXPORTER_OTLP_PROTOCOL`."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _WithoutOtel(settings_cls, dotenv_settings), file_secret_settings

    @property
    def otlp_traces_protocol(self) -> OtlpProtocol:
        return self.otel_exporter_otlp_traces_protocol or self.otel_exporter_otlp_protocol or "http/protobuf"

    @model_validator(mode="after")
    def _dev_windows(self) -> Self:
        if self.dev_mode:
            for window in DEV_WINDOWS:
                if window not in self.model_fields_set:
                    setattr(self, window, DEV_WINDOW_SECONDS)
        return self

    @property
    def hashing_concurrency(self) -> int:
        """Hashings allowed at once: the setting, or as many as the cores keep busy."""
        if self.password_hash_concurrency is not None:
            return self.password_hash_concurrency
        return max(1, (os.cpu_count() or 1) // self.password_parallelism)

    @field_validator("log_level", "log_format", "db_pooler", "otel_traces_exporter", mode="before")
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
        not_a_url = ValueError(f"is not a database URL, like {_DATABASE_EXAMPLE}")
        scheme = _URL_SCHEME.match(value)
        if scheme is None:
            raise not_a_url
        if scheme["scheme"] not in DATABASE_SCHEMES:
            schemes = "sqlite://, postgresql:// or mysql:// (or mariadb://)"
            raise ValueError(f"must start with {schemes}, like {_DATABASE_EXAMPLE}")
        if value != cls.model_fields["database_url"].default:
            # The rest of the URL as SQLAlchemy reads it (a port that is not a number, say). Imported
            # here, so that a command refusing another setting with the default URL does not pay for it.
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError

            try:
                make_url(value)
            except (ArgumentError, ValueError):
                raise not_a_url from None
        return value

    @field_validator("db_replica_urls", mode="before")
    @classmethod
    def _split_replica_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @field_validator("db_replica_urls")
    @classmethod
    def _replicas_of_postgresql(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # The messages never repeat a URL: it may carry a password.
        if not value:
            return value
        primary = _URL_SCHEME.match(info.data.get("database_url") or "")
        if primary is not None and (backend := _backend_of(primary["scheme"])) != "postgresql":
            names = f"DATABASE_URL names {backend}"
            raise ValueError(f"read replicas are for PostgreSQL only ({names}): unset it, or use PostgreSQL")
        for number, url in enumerate(value, start=1):
            scheme = _URL_SCHEME.match(url)
            if scheme is None or _backend_of(scheme["scheme"]) != "postgresql":
                raise ValueError(f"replica {number} must be a postgresql:// URL, like {_DATABASE_EXAMPLE}")
        return value

    @field_validator("db_position_ttl")
    @classmethod
    def _remembered_past_the_lag(cls, value: float, info: ValidationInfo) -> float:
        # A healthy replica has replayed every write older than the lag allowed (and the time until the
        # next check finds it lagging): a write remembered at least that long is never missing from one.
        longest = info.data.get("db_replica_max_lag", 0.0) + info.data.get("db_replica_check_interval", 0.0)
        if value <= longest:
            raise ValueError(
                f"must be longer than INKWELL_DB_REPLICA_MAX_LAG plus INKWELL_DB_REPLICA_CHECK_INTERVAL "
                f"({longest:g} s), or a reader could find a write of theirs missing on a replica"
            )
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


class _WithoutOtel(PydanticBaseSettingsSource):
    """A `.env` file's settings, less its OTEL_* variables.

    The OpenTelemetry SDK reads its variables from the environment only, so Inkwell reads the ones it
    decides on there too: from a `.env` file, OTEL_TRACES_EXPORTER would turn tracing on while the
    endpoint and headers beside it never reached the exporter.
    """

    def __init__(self, settings_cls: type[BaseSettings], source: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.source = source

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        return {name: value for name, value in self.source().items() if not name.startswith("OTEL_")}


# The windows INKWELL_DEV_MODE shortens, and to what.
DEV_WINDOWS = ("login_failure_window", "mail_request_window", "sign_up_window")
DEV_WINDOW_SECONDS = 60
_DATABASE_EXAMPLE = "postgresql://user:password@host:5432/inkwell"
# The scheme as SQLAlchemy reads it: a dialect, and a driver after a +.
_URL_SCHEME = re.compile(r"(?P<scheme>[\w+]+)://")
_SAME_BACKEND = {"postgres": "postgresql", "mariadb": "mysql"}


def _backend_of(scheme: str) -> str:
    """The database a URL scheme names, as SQLAlchemy names its backend (`postgres+asyncpg`: postgresql)."""
    name = scheme.split("+")[0]
    return _SAME_BACKEND.get(name, name)


MIN_SECRET_BYTES = 32
_PLACEHOLDERS = ("change", "secret", "example", "placeholder", "replace", "your", "xxx", "todo")
_PLACEHOLDER_WORDS = re.compile("|".join(_PLACEHOLDERS))
# Whoever holds one signed token can try keys against it offline, at about 10^10 HMAC-SHA256 a second on
# one GPU: a key that takes 2^80 guesses (10^24) holds for thousands of years against a thousand GPUs.
# zxcvbn's estimate counts what makes a key guessable (sequences, repeats, keyboard rows, words), so
# `0123456789abcdef` twice (10^4.5 guesses) is refused; a random one of 32 hex characters, the shortest
# allowed, was estimated at 10^27 or more (the lowest of 6,000 measured), and `openssl rand -hex 32` at
# 10^58 or more.
MIN_SECRET_BITS = 80


def refuse_weak_secret(key: str) -> None:
    """Raise ValueError for a key too short to sign tokens with, one copied from an example, or one that
    is too easy to guess (zxcvbn's estimate under MIN_SECRET_BITS)."""
    if len(key.encode()) < MIN_SECRET_BYTES:
        raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes (try `openssl rand -hex 32`)")
    # A word of an example's key in it, and little else: a random key may hold one by chance (`xxx` or
    # `your` in about one urlsafe key of 700), and what is left of it is as random as before.
    lowered = key.lower()
    if any(word in lowered for word in _PLACEHOLDERS):
        rest = _PLACEHOLDER_WORDS.sub("", lowered)
        if secret_bits(rest) < MIN_SECRET_BITS:
            raise ValueError("looks like a placeholder; generate one with `openssl rand -hex 32`")
    if (bits := secret_bits(key)) < MIN_SECRET_BITS:
        raise ValueError(
            f"is too easy to guess (about {bits:.0f} bits, made of sequences, repeats or words; "
            f"{MIN_SECRET_BITS} needed); generate one with `openssl rand -hex 32`"
        )


def secret_bits(key: str) -> float:
    """log2 of the guesses zxcvbn estimates it takes to find `key` (its first 72 characters)."""
    # Imported here: building zxcvbn's matchers takes tens of milliseconds, and few commands check a key.
    from zxcvbn import zxcvbn

    return float(zxcvbn(key)["guesses_log10"]) * math.log2(10)


def _require_scheme(value: SecretStr | None, schemes: tuple[str, ...], example: str) -> SecretStr | None:
    # The message never repeats the URL: it may carry a password.
    if value is not None and not value.get_secret_value().startswith(schemes):
        raise ValueError(f"must start with {' or '.join(schemes)}, like {example}")
    return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def settings_problem(exc: ValidationError) -> str | None:
    """One line naming each setting that is wrong and why, by the name it is set with (never its value);
    None for an error that is not about the settings."""
    if exc.title != Settings.__name__:
        return None
    return "; ".join(
        f"{_variable(str(error['loc'][0]))}: {error['msg'].removeprefix('Value error, ')}"
        for error in exc.errors()
    )


def _variable(field: str) -> str:
    # A setting read under a name of its own (DATABASE_URL, OTEL_TRACES_EXPORTER) is reported by it.
    if field.isupper():
        return field
    return "DATABASE_URL" if field == "database_url" else f"INKWELL_{field.upper()}"
