"""Password hashing with Argon2id (pwdlib), off the event loop, a bounded number at a time."""

import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from inkwell.auth.errors import HashingBusy
from inkwell.config import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class Verdict:
    valid: bool
    # A new hash when the stored one was made with other parameters (or None).
    new_hash: str | None = None


class Admission:
    """Turns at the hashing threads: `concurrency` hashings at once, `queue` requests waiting for one.

    A request that finds the queue full, or whose turn does not come within `timeout` seconds, is refused
    (HashingBusy, a 503). Without the bound a flood of sign-ups piles up hashings, each holding 64 MiB and
    its share of the CPU, until every other request starves; with it the flood waits or is refused, and
    the hashing threads, `nice` steps below the server's priority, leave the CPU to the other requests
    first.
    """

    def __init__(self, *, concurrency: int, queue: int, timeout: float, nice: int = 0) -> None:
        self.queue = queue
        self.timeout = timeout
        self._turns = asyncio.Semaphore(concurrency)
        self._waiting = 0
        # Threads of its own, as many as the turns: the default executor's size says nothing about this.
        self._threads = ThreadPoolExecutor(
            max_workers=concurrency,
            thread_name_prefix="inkwell-hashing",
            initializer=_lower_priority,
            initargs=(nice,),
        )

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        await self._take_turn()
        done = asyncio.get_running_loop().run_in_executor(self._threads, work, *args)
        # The turn ends when the thread is done, even if the request is cancelled before then.
        done.add_done_callback(lambda _: self._turns.release())
        return await asyncio.shield(done)

    async def _take_turn(self) -> None:
        if not self._turns.locked():
            await self._turns.acquire()
            return
        if self._waiting >= self.queue:
            raise HashingBusy
        self._waiting += 1
        try:
            async with asyncio.timeout(self.timeout):
                await self._turns.acquire()
        except TimeoutError:
            raise HashingBusy from None
        finally:
            self._waiting -= 1


def _lower_priority(steps: int) -> None:
    """Run the calling thread `steps` below the process's priority (nice), so that when the CPU is short
    it goes to answering requests first.

    Linux keeps a nice value per thread, which the threads argon2 starts for its lanes inherit; elsewhere
    it belongs to the whole process, which is left alone.
    """
    if steps and sys.platform == "linux":
        thread = threading.get_native_id()
        # A sandbox that forbids it leaves hashing at the server's priority rather than breaking it.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + steps))


@dataclass
class Passwords:
    """Hashes and checks passwords with the configured Argon2id parameters.

    Hashing takes tens of milliseconds of CPU on purpose; it runs in a thread (argon2 releases the GIL),
    so the server goes on answering other requests meanwhile, and through `admission`, so that only a
    few run at once.
    """

    hasher: PasswordHash
    admission: Admission
    _dummy_hash: str | None = field(default=None, init=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Passwords":
        argon2 = Argon2Hasher(
            time_cost=settings.password_time_cost,
            memory_cost=settings.password_memory_kib,
            parallelism=settings.password_parallelism,
        )
        admission = Admission(
            concurrency=settings.hashing_concurrency,
            queue=settings.password_hash_queue,
            timeout=settings.password_hash_timeout,
            nice=settings.password_hash_nice,
        )
        return cls(PasswordHash((argon2,)), admission)

    async def hash(self, password: str) -> str:
        return await self.admission.run(self.hasher.hash, password)

    async def verify(self, password: str, password_hash: str | None) -> Verdict:
        """Whether `password` matches; without a hash, the same work is done against a dummy one.

        So an unknown email, or an account without a password, takes as long to refuse as a wrong
        password.
        """
        if password_hash is None:
            dummy = await self._dummy()
            await self.admission.run(self.hasher.verify, password, dummy)
            return Verdict(valid=False)
        valid, new_hash = await self.admission.run(self.hasher.verify_and_update, password, password_hash)
        return Verdict(valid=valid, new_hash=new_hash if valid else None)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(secrets.token_hex(16))
        return self._dummy_hash
