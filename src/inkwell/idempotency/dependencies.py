"""The Idempotency-Key header: a retried POST gets the first response again and writes nothing new."""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel

from inkwell.db import Transaction
from inkwell.deps import SettingsDep, TransactionDep
from inkwell.fields import not_null
from inkwell.idempotency import service
from inkwell.idempotency.errors import KeyInUse, KeyReused
from inkwell.idempotency.models import KEY_LENGTH, IdempotencyKeyRecord
from inkwell.orm import utcnow

# Requests made without signing in share one scope.
ANONYMOUS_SCOPE = "anonymous"
REPLAYED_HEADER = "Idempotent-Replayed"
JSON = "application/json"

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=KEY_LENGTH,
        pattern=r"^[\x21-\x7e]+$",
        json_schema_extra=not_null,
        description="Any unique string (a UUID, say). A retry with the same key and body gets the first "
        "response again and creates nothing; the same key with another body is a 422.",
    ),
]


@dataclass
class IdempotentRequest:
    """One POST, and the Idempotency-Key it came with (if any)."""

    tx: Transaction
    key: str | None
    user_id: int | None  # whose keys these are: None for requests made without signing in
    fingerprint: str
    ttl_seconds: float
    _claimed: int | None = field(default=None, init=False)

    @property
    def scope(self) -> str:
        """Keys of different scopes never meet: each signed-in user's are their own."""
        return ANONYMOUS_SCOPE if self.user_id is None else f"user:{self.user_id}"

    async def replay_or_claim(self) -> Response | None:
        """The first response when this is a retry; otherwise claim the key for this request (None)."""
        if self.key is None:
            return None
        now = utcnow()
        stored = await service.find_key(self.tx, scope=self.scope, key=self.key)
        if stored is not None and stored.expires_at <= now:
            await service.forget_key(self.tx, stored.id)
            stored = None
        if stored is None:
            self._claimed = await service.claim_key(
                self.tx,
                scope=self.scope,
                key=self.key,
                user_id=self.user_id,
                fingerprint=self.fingerprint,
                expires_at=service.expiry(now, self.ttl_seconds),
            )
            if self._claimed is not None:
                return None
            # Another request with this key committed while this one waited on the constraint.
            stored = await service.find_key(self.tx, scope=self.scope, key=self.key, latest=True)
        return self._replay(stored)

    async def respond(self, body: BaseModel, *, status_code: int, etag: str | None = None) -> Response:
        """The response; kept with the key (in this transaction) when the request brought one."""
        content = body.model_dump_json()
        if self._claimed is not None:
            await service.keep_response(
                self.tx, self._claimed, status_code=status_code, body=content, etag=etag
            )
        return Response(content, status_code=status_code, media_type=JSON, headers=_etag_header(etag))

    def _replay(self, stored: IdempotencyKeyRecord | None) -> Response:
        if stored is None or stored.status_code is None or stored.response_body is None:
            raise KeyInUse
        if stored.fingerprint != self.fingerprint:
            raise KeyReused
        headers = {**_etag_header(stored.etag), REPLAYED_HEADER: "true"}
        return Response(
            stored.response_body, status_code=stored.status_code, media_type=JSON, headers=headers
        )


def _etag_header(etag: str | None) -> dict[str, str]:
    return {} if etag is None else {"ETag": etag}


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of the method, the path and the body; JSON bodies are compared by content, not layout.

    Secret fields (any name with password, passwd, secret, token or api_key in it) are left out: the
    fingerprint is kept for a day, and an unkeyed hash of a body is a hash of its password that anyone
    reading the table could try guesses against. So a retry that changes only a password replays the
    first response.
    """
    try:
        canonical = json.dumps(
            without_secrets(json.loads(body)), sort_keys=True, separators=(",", ":")
        ).encode()
    except (ValueError, RecursionError):
        # Not JSON: the request fails validation, and a failed request keeps no key.
        canonical = body
    return hashlib.sha256(b"%s %s\n%s" % (method.encode(), path.encode(), canonical)).hexdigest()


_SECRET_FIELD = re.compile(r"(?i)passw(?:or)?d|secret|token|api[_-]?key")


def without_secrets(value: Any) -> Any:
    """A parsed JSON value without the members, at any depth, whose names look like secrets."""
    if isinstance(value, dict):
        return {name: without_secrets(item) for name, item in value.items() if not _SECRET_FIELD.search(name)}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


async def nobody_signed_in() -> int | None:
    """Whose keys these are for requests made without signing in (sign-up): nobody's."""
    return None


def idempotency_in(owner: Callable[..., Any]) -> Any:
    """A dependency for the request's Idempotency-Key, among the keys of the user the `owner` dependency
    names (None: of requests made without signing in)."""

    async def idempotent_request(
        request: Request,
        tx: TransactionDep,
        settings: SettingsDep,
        user_id: Annotated[int | None, Depends(owner)],
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> IdempotentRequest:
        digest = ""
        if idempotency_key is not None:
            digest = fingerprint(request.method, request.url.path, await request.body())
        return IdempotentRequest(
            tx=tx,
            key=idempotency_key,
            user_id=user_id,
            fingerprint=digest,
            ttl_seconds=settings.idempotency_ttl,
        )

    return Depends(idempotent_request)


IdempotencyDep = Annotated[IdempotentRequest, idempotency_in(nobody_signed_in)]
