from datetime import datetime
from functools import cache
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from inkwell.fields import Email, OneLineStr, StorableStr, omittable
from inkwell.users.models import BIO_LENGTH, NAME_LENGTH


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


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    bio: str | None
    created_at: datetime
    updated_at: datetime
