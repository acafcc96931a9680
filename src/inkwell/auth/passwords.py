"""Password hashing with Argon2id (pwdlib), off the event loop."""

import asyncio
import secrets
from dataclasses import dataclass, field

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from inkwell.config import Settings


@dataclass(frozen=True)
class Verdict:
    valid: bool
    # A new hash when the stored one was made with other parameters (or None).
    new_hash: str | None = None


@dataclass
class Passwords:
    """Hashes and checks passwords with the configured Argon2id parameters.

    Hashing takes tens of milliseconds of CPU on purpose; it runs in a thread (argon2 releases the GIL),
    so the server goes on answering other requests meanwhile.
    """

    hasher: PasswordHash
    _dummy_hash: str | None = field(default=None, init=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Passwords":
        argon2 = Argon2Hasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_kib,
            parallelism=settings.password_parallelism,
        )
        return cls(PasswordHash((argon2,)))

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> Verdict:
        """Whether `password` matches; without a hash, the same work is done against a dummy one.

        So an unknown email, or an account without a password, takes as long to refuse as a wrong
        password.
        """
        if password_hash is None:
            await asyncio.to_thread(self.hasher.verify, password, await self._dummy())
            return Verdict(valid=False)
        valid, new_hash = await asyncio.to_thread(self.hasher.verify_and_update, password, password_hash)
        return Verdict(valid=valid, new_hash=new_hash if valid else None)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_hex(16))
        return self._dummy_hash
