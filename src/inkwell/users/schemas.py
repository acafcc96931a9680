from datetime import datetime
from functools import cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from inkwell.fields import Email, OneLineStr, StorableStr, not_null, omittable
from inkwell.users.models import BIO_LENGTH, NAME_LENGTH, UserRecord


@cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords that zxcvbn ships, lower-cased; read at the first use.

    Importing zxcvbn builds its matchers too (tens of milliseconds), which only setting a password needs.
    """
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(password.lower() for password in FREQUENCY_LISTS["passwords"])


def _uncommon(value: str) -> str:
    # The message never repeats the password.
    if value.lower() in _common_passwords():
        raise ValueError("must not be one of the most common passwords")
    return value


Name = Annotated[OneLineStr, Field(min_length=1, max_length=NAME_LENGTH)]
Bio = Annotated[StorableStr, Field(max_length=BIO_LENGTH)]
# Wherever a password is set: sign-up, a change, a reset, an admin made from the command line.
Password = Annotated[
    StorableStr,
    Field(
        min_length=8,
        max_length=128,
        description="8 to 128 characters, any but NUL, and not one of the 30,000 most common passwords "
        "(compared without regard to case).",
    ),
    AfterValidator(_uncommon),
]


class UserFields(BaseModel):
    """What describes a new user. Fields not listed (an id, a role, an admin flag) are ignored."""

    model_config = ConfigDict(extra="ignore")

    email: Email
    name: Name
    bio: Bio | None = None


class UserCreate(UserFields):
    """A sign-up."""

    password: Password


class OpenUserCreate(UserFields):
    """A sign-up while sign-in is off: the password may be left out."""

    password: Password | None = None


class UserUpdate(BaseModel):
    """Only the fields sent are changed; `email` and `name` may be left out but never set to null."""

    email: Email = omittable()
    name: Name = omittable()
    bio: Bio | None = None


# A user, email included: as anyone sees it with sign-in off, and as the account itself (its sign-up,
# its changes) or an admin sees it with sign-in on. A comment, not a docstring: the open API's document
# stays the tutorial's.
class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    bio: str | None
    created_at: datetime
    updated_at: datetime


def _left_out_rather_than_null(schema: dict[str, Any]) -> None:
    not_null(schema)
    schema.pop("default", None)


class PublicUserRead(BaseModel):
    """A user as signed-in users see it: the email only in an admin's view (the account itself reads
    its own at /users/me), so that no member can collect the others' addresses."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str | None = Field(
        default=None,
        exclude_if=lambda email: email is None,
        json_schema_extra=_left_out_rather_than_null,
        description="Only in an admin's view.",
    )
    name: str
    bio: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: UserRecord, *, with_email: bool) -> "PublicUserRead":
        view = cls.model_validate(user)
        if not with_email:
            view.email = None
        return view
