"""Schemathesis hooks: generated requests use Idempotency-Key the way the API documents it.

A key names one request; the fuzzer, left alone, reuses short keys ("0") across unrelated requests, which
the API rightly answers with 422 (another body) or the first response again (a user since deleted).
Before each call, a valid key gets a unique suffix; invalid ones are sent as they are.
"""

import re
import uuid
from typing import Any

import schemathesis

KEY = "Idempotency-Key"
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@schemathesis.hook
def before_call(_context: Any, case: Any, _kwargs: dict[str, Any]) -> None:
    key = (case.headers or {}).get(KEY)
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        case.headers[KEY] = f"{key[:200]}-{uuid.uuid4().hex}"
