from dataclasses import dataclass
from typing import Annotated, Literal, Self

from fastapi import Form
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from inkwell.fields import MAX_EMAIL_LENGTH, Email, StorableStr, omittable
from inkwell.users.models import UserRecord
from inkwell.users.schemas import Password, UserRead, UserUpdate

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


class CurrentPassword(BaseModel):
    """The password of whoever is signed in, asked again before a change that a stolen access token must
    not make alone (an admin acting on another account gives their own)."""

    current_password: PresentedSecret


class AccountUpdate(UserUpdate):
    """A change with sign-in on: a new `email` needs `current_password` too."""

    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"email": ["current_password"]}})

    current_password: Annotated[
        PresentedSecret,
        Field(
            description="Required with `email`: the password of whoever is signed in (an admin acting on "
            "another account gives their own)."
        ),
    ] = omittable()

    @model_validator(mode="after")
    def _password_with_email(self) -> Self:
        if "email" in self.model_fields_set and "current_password" not in self.model_fields_set:
            raise PydanticCustomError(
                "current_password_missing", "current_password is required to change the email"
            )
        return self


def _is_set(value: object) -> bool:
    return value is not None


class AccountRead(UserRead):
    """The signed-in user's own account."""

    # Every field is in every answer: the schema says so of `pending_email` too, default or not.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    is_admin: bool
    # Read from the user's `email_verified_at`: whether it is set.
    email_verified: Annotated[bool, BeforeValidator(_is_set)] = Field(
        validation_alias="email_verified_at",
        description="Whether the owner confirmed the email with a mailed token.",
    )
    pending_email: str | None = Field(
        default=None,
        description="A new address asked for, while the token mailed to it to confirm it works (null when "
        "none). Until it is confirmed, the account keeps `email`.",
    )

    @classmethod
    def of(cls, user: UserRecord, *, pending_email: str | None) -> "AccountRead":
        return cls.model_validate(user).model_copy(update={"pending_email": pending_email})


class Accepted(BaseModel):
    """The request was taken; what it asks for happens in the background."""

    detail: str


class EmailVerification(BaseModel):
    token: PresentedSecret = Field(description="The token from the verification mail.")


class EmailConfirmation(BaseModel):
    token: PresentedSecret = Field(description="The token from the mail sent to the new address.")


class ForgottenPassword(BaseModel):
    email: Email


class PasswordReset(BaseModel):
    token: PresentedSecret = Field(description="The token from the password reset mail.")
    new_password: Password
