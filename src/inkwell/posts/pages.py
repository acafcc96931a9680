"""A page of posts as the list routes answer it: JSON bytes (the declared model's serialization, done once),
so that the cache can hold a page as it is sent.

An encoded page starts with a line holding the id the next page starts after (empty on the last page), for
the `Link` header.
"""

import hashlib
from collections.abc import Sequence

from fastapi import Response
from pydantic import TypeAdapter

from inkwell.cache.reads import CACHED_DEPTH
from inkwell.cache.store import Cache
from inkwell.orm import table_of
from inkwell.pagination import Page, next_offset_link, next_page_link
from inkwell.posts.models import Post, PostRecord
from inkwell.posts.schemas import PostRead
from inkwell.posts.search import Search

_POST_LIST = TypeAdapter(list[PostRead])
# The pages of every list of posts are cached under the table they are read from: any write to it drops
# them all (see inkwell.cache.invalidation).
CACHE_NAMESPACE = table_of(Post).name


def cache_for(cache: Cache | None, page: Page) -> Cache | None:
    """The cache, for the first pages of a list, searches included; not for keyset pages (`after=`) or
    deeper ones."""
    cached = page.after is None and page.offset + page.limit <= CACHED_DEPTH
    return cache if cached else None


def variant(of_list: str, page: Page, search: Search | None) -> str:
    """The key of a page of a list in the cache: the list, the page and, for a search, a digest of the
    parsed query and of its bounds (the same words in any spelling share it)."""
    key = f"{of_list}:{page.limit}:{page.offset}"
    if search is None:
        return key
    return f"{key}:q:{hashlib.sha256(repr(search).encode()).hexdigest()[:32]}"


def encode_page(rows: Sequence[PostRecord], page: Page) -> bytes:
    items = rows[: page.limit]
    following = str(items[-1].id).encode() if len(rows) > page.limit else b""
    return following + b"\n" + _POST_LIST.dump_json(_POST_LIST.validate_python(items, from_attributes=True))


def page_response(encoded: bytes, page: Page, search: Search | None) -> Response:
    following, body = encoded.split(b"\n", 1)
    response = Response(content=body, media_type="application/json")
    if following:
        link = next_page_link(page, int(following)) if search is None else next_offset_link(page)
        if link is not None:
            response.headers["Link"] = link
    return response
