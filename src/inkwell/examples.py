"""The examples of the request bodies in the OpenAPI document: what "Try it out" in /docs sends.

One account throughout, so that each example can be sent as it is, in order: sign up with it, sign in (the
Authorize button) with its email and password, change it, write a post. A token that only a mail or a
sign-in hands out cannot be written here: its example says where to find it.

Each is a field's (`Field(examples=...)`): Swagger UI builds a body from its fields' first examples, and
makes up a value, from the field's pattern if it has one, for a field without (a name such as
`yy|{}}|}z|{{}y`).
"""

EMAIL = "ada@example.com"
NAME = "Ada Lovelace"
PASSWORD = "correct horse battery staple"  # noqa: S105 (an example in the docs, for a demo account)
NEW_PASSWORD = "a new horse battery staple"  # noqa: S105 (likewise)
BIO = "Wrote the first program, for an engine not yet built."
TITLE = "Notes on the Analytical Engine"
BODY = "The engine weaves algebraic patterns just as the Jacquard loom weaves flowers and leaves."

MAILED_TOKEN = "the token from the mail"  # noqa: S105 (a placeholder)
REFRESH_TOKEN = "the refresh_token of POST /auth/token"  # noqa: S105 (a placeholder)
