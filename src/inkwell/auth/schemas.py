from typing import Annotated, Literal

from pydantic import BaseModel, Field

from inkwell.fields import Email
from inkwell.users.schemas import Password, UserRead

# What a client sends back: never checked for length, only compared (so any string is a wrong one).
PresentedSecret = Annotated[str, Field(max_length=1024)]


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
