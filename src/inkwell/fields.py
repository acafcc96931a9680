"""Field types shared by the request schemas."""

from typing import Annotated, Any

from pydantic import AfterValidator, EmailStr, Field

# Primary keys are 32-bit signed integers on every supported database.
MAX_ID = 2**31 - 1


def _storable(value: str) -> str:
    # PostgreSQL refuses NUL in text and every driver refuses lone surrogates: say so as a 422.
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


def _lower(value: str) -> str:
    return value.lower()


# Text that every supported database can store; schemas add the column's length bounds.
StorableStr = Annotated[str, AfterValidator(_storable)]


# Emails are compared without regard to case, so they are stored lower-cased.
Email = Annotated[EmailStr, Field(max_length=255), AfterValidator(_lower)]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable() -> Any:
    """A PATCH field that may be left out but never sent as null (`null` is a 422).

    Left out, it stays unset and `model_dump(exclude_unset=True)` skips it; the docs show no default.
    """
    return Field(default=None, json_schema_extra=_drop_default)


def valid_id(value: int) -> bool:
    return 1 <= value <= MAX_ID
