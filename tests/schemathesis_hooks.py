"""Schemathesis hooks: generated requests use Idempotency-Key and `q` the way the API documents them.

A key names one request; the fuzzer, left alone, reuses short keys ("0") across unrelated requests, which
the API rightly answers with 422 (another body) or the first response again (a user since deleted).
Before each call, a valid key gets a unique suffix; invalid ones are sent as they are.

A search (`q`) pages by offset only: `after` with it is a 422 that the document cannot express (it has no
way to say two parameters exclude each other), so a request with both loses its `after`. `q` itself is
fuzzed as it comes, any text.
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
    query = case.query or {}
    if "q" in query and "after" in query:
        del query["after"]
