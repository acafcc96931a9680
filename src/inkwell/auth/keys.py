"""The key that signs access tokens: INKWELL_SECRET_KEY, or one generated once and kept beside SQLite data."""

import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from inkwell.auth.passwords import Passwords
from inkwell.auth.tokens import VerifiedAccessTokens
from inkwell.config import Settings, refuse_weak_secret

logger = logging.getLogger(__name__)

KEY_FILE_NAME = "inkwell-secret.key"


@dataclass(frozen=True)
class Auth:
    """What signing in needs, built once at start-up (none when sign-in is off)."""

    settings: Settings
    key: str
    passwords: Passwords
    access_tokens: VerifiedAccessTokens = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "access_tokens", VerifiedAccessTokens(self.key))


class SecretKeyError(Exception):
    """The server cannot sign tokens safely; the message says what to set."""


def signing_key(settings: Settings) -> str:
    """The key for this process: the same in every worker, and the same after a restart."""
    if settings.secret_key is not None:
        key = settings.secret_key.get_secret_value()
        try:
            refuse_weak_secret(key)
        except ValueError as exc:
            raise SecretKeyError(f"INKWELL_SECRET_KEY {exc}") from None
        return key
    key_file = settings.secret_key_file or _beside_sqlite_data(settings.database_url)
    if key_file is None:
        raise SecretKeyError(
            "INKWELL_SECRET_KEY is not set. With PostgreSQL or MariaDB every server must share one key: "
            "set INKWELL_SECRET_KEY to at least 32 random bytes (`openssl rand -hex 32`), or set "
            "INKWELL_AUTH=off for an open API (prototyping only)."
        )
    return _read_or_create(key_file)


def _beside_sqlite_data(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return None
    if url.database in (None, "", ":memory:"):
        # Nothing outlives the process anyway: a key of its own is enough.
        return Path(os.devnull)
    return Path(url.database).resolve().parent / KEY_FILE_NAME


def _read_or_create(path: Path) -> str:
    if path == Path(os.devnull):
        return secrets.token_hex(32)
    if not path.exists():
        _create_key_file(path)
    key = path.read_text(encoding="utf-8").strip()
    try:
        refuse_weak_secret(key)
    except ValueError as exc:
        raise SecretKeyError(f"the key in {path} {exc}") from None
    return key


def _create_key_file(path: Path) -> None:
    """Write a new key where only its owner can read it; if another process got there first, keep theirs."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(secrets.token_hex(32) + "\n")
        # A hard link never replaces an existing file: of workers starting together, one key wins.
        os.link(temporary, path)
        logger.warning("generated a secret key for signing tokens in %s; keep it private", path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
