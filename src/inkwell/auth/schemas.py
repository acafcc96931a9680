from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Form
from pydantic import BaseModel, Field

from inkwell.fields import MAX_EMAIL_LENGTH, Email, StorableStr
from inkwell.users.schemas import Password, UserRead

# Longer than any password or token Inkwell hands out or accepts, and still cheap to hash or compare.
MAX_SECRET_LENGTH = 1024

# What a client sends back: never checked for length, only compared (so any string is a wrong one).
PresentedSecret = Annotated[str, Field(max_length=MAX_SECRET_LENGTH)]


@dataclass(frozen=True)
class SignInForm:
    """The OAuth2 password flow's form (RFC 6749, section 4.3.2), as the Authorize button of /docs sends it.

    Like fastapi's OAuth2PasswordRequestForm, `grant_type` may be left out and `scope` and the client's
    fields are ignored; unlike it, the fields are bounded, so that an overlong or unstorable username is
    a 422 before anything looks it up or counts it as a password attempt.
    """

    username: Annotated[StorableStr, Form(max_length=MAX_EMAIL_LENGTH, description="The account's email.")]
    password: Annotated[str, Form(max_length=MAX_SECRET_LENGTH, json_schema_extra={"format": "password"})]
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 (a token type, not a secret)
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str = Field(description="Single-use: trade it at /auth/refresh for a new pair.")


class RefreshRequest(BaseModel):
    refresh_token: PresentedSecret


class PasswordChange(BaseModel):
    current_password: PresentedSecret
    new_password: Password


class AccountRead(UserRead):
    """The signed-in user's own account."""

    is_admin: bool
    email_verified: bool = Field(description="Whether the owner confirmed the email with a mailed token.")


class Accepted(BaseModel):
    """The request was taken; what it asks for happens in the background."""

    detail: str


class EmailVerification(BaseModel):
    token: PresentedSecret = Field(description="The token from the verification mail.")


class ForgottenPassword(BaseModel):
    email: Email


class PasswordReset(BaseModel):
    token: PresentedSecret = Field(description="The token from the password reset mail.")
    new_password: Password
