"""The Redis connection, shared by the cache, the job queue and the login throttle."""

from typing import TYPE_CHECKING, Any

from inkwell.config import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis


def create_redis(settings: Settings, *, timeout: float | None) -> "Redis | None":
    """A client for `INKWELL_REDIS_URL`, or None when it is unset.

    `timeout` bounds connecting and every reply: short for the cache (a slow Redis must cost a request
    little), None for the queue (its workers block on purpose while they wait for a job).
    """
    if settings.redis_url is None:
        return None
    # Imported here: without Redis configured, no process pays for loading the client.
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # With a timeout, a failure is reported at once rather than retried: redis-py's default retries with
    # backoff took 8 s before a request that meets a stopped Redis could go on without it.
    options: dict[str, Any] = {} if timeout is None else {"retry": Retry(NoBackoff(), retries=0)}
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=settings.redis_timeout,
        socket_timeout=timeout,
        health_check_interval=30,
        **options,
    )
