"""Schemathesis hooks: generated requests use Idempotency-Key and `q` the way the API documents them.

A key names one request; the fuzzer, left alone, reuses short keys ("0") across unrelated requests, which
the API rightly answers with 422 (another body) or the first response again (a user since deleted).
Before each call, a valid key gets a unique suffix; invalid ones are sent as they are.

A search (`q`) pages by offset only: `after` with it is a 422 that the document cannot express (it has no
way to say two parameters exclude each other), so a request with both loses its `after` when that is valid
on its own; an invalid one stays, and the request is refused as the fuzzer expects. `q` itself is fuzzed
as it comes, any text.
"""

import re
import uuid
from typing import Any

import schemathesis

from inkwell.fields import MAX_ID

KEY = "Idempotency-Key"
VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")


@schemathesis.hook
def before_call(_context: Any, case: Any, _kwargs: dict[str, Any]) -> None:
    key = (case.headers or {}).get(KEY)
    if isinstance(key, str) and VALID_KEY.fullmatch(key):
        case.headers[KEY] = f"{key[:200]}-{uuid.uuid4().hex}"
    query = case.query or {}
    if "q" in query and _valid_cursor(query.get("after")):
        del query["after"]


def _valid_cursor(value: object) -> bool:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID
