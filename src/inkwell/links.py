"""OpenAPI links: which value of a response feeds which later request (for readers, and for fuzzers)."""

from typing import Any

# Values of the response a link takes its parameters from (OpenAPI runtime expressions).
BODY_ID = "$response.body#/id"
BODY_AUTHOR_ID = "$response.body#/author_id"
ETAG = "$response.header.ETag"


def link(method: str, path: str, **parameters: str) -> dict[str, Any]:
    """A link to the operation at `method path`; a parameter named `header_x` fills header `x`."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    named = {_parameter_name(name): value for name, value in parameters.items()}
    return {"operationRef": f"#/paths/{pointer}/{method}", "parameters": named}


def _parameter_name(name: str) -> str:
    if name.startswith("header_"):
        return "header." + name.removeprefix("header_").replace("_", "-").title()
    return name


def user_links() -> dict[str, Any]:
    """From a response carrying a user (and its ETag) to what can be done with that user."""
    return {
        "ReadUser": link("get", "/users/{user_id}", user_id=BODY_ID),
        "UpdateUser": link("patch", "/users/{user_id}", user_id=BODY_ID, header_if_match=ETAG),
        "DeleteUser": link("delete", "/users/{user_id}", user_id=BODY_ID, header_if_match=ETAG),
        "CreatePost": link("post", "/users/{user_id}/posts", user_id=BODY_ID),
        "ListUserPosts": link("get", "/users/{user_id}/posts", user_id=BODY_ID),
    }


def post_links() -> dict[str, Any]:
    """From a response carrying a post (and its ETag) to what can be done with that post."""
    return {
        "ReadPost": link("get", "/posts/{post_id}", post_id=BODY_ID),
        "UpdatePost": link("patch", "/posts/{post_id}", post_id=BODY_ID, header_if_match=ETAG),
        "DeletePost": link("delete", "/posts/{post_id}", post_id=BODY_ID, header_if_match=ETAG),
        "ReadAuthor": link("get", "/users/{user_id}", user_id=BODY_AUTHOR_ID),
    }
