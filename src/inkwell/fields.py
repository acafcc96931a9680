"""Field types shared by the request schemas."""

import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from inkwell import examples as example

# Primary keys are 32-bit signed integers on every supported database.
MAX_ID = 2**31 - 1


def invalid(message: str) -> PydanticCustomError:
    """A validation error that says `message` as it is: a ValueError raised in a validator would say
    "Value error, " first."""
    return PydanticCustomError("value_error", message)


def _storable(value: str) -> str:
    # PostgreSQL refuses NUL in text and every driver refuses lone surrogates: say so as a 422.
    if "\x00" in value:
        raise invalid("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid("must be valid Unicode text") from None
    return value


def _email(value: str) -> str:
    # Deliverability is not checked (nothing is sent). Addresses at .test, the domain reserved for
    # testing, are accepted for clients' own tests; the other reserved names are not.
    try:
        address = validate_email(value, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        # The same error, and message, as Pydantic's own EmailStr.
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None
    # Compared without regard to case, so stored lower-cased.
    return address.normalized.lower()


@dataclass(frozen=True)
class Documented:
    """Keys added to a field's JSON Schema, for a rule that a validator (not a constraint) enforces."""

    key: str
    value: str

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema[self.key] = self.value
        return schema


# Text that every supported database can store; schemas add the column's length bounds. The pattern
# documents the NUL rule (unpaired surrogates cannot be written in a JSON Schema pattern).
StorableStr = Annotated[str, AfterValidator(_storable), Documented("pattern", "^[^\\x00]*$")]


# Control characters (Cc: newlines, tabs, escapes), invisible format characters (Cf: bidirectional
# overrides, zero-width characters) and line and paragraph separators (Zl, Zp). Ordinary spaces are fine.
_NOT_ON_ONE_LINE = frozenset({"Cc", "Cf", "Zl", "Zp"})
# The same characters of the Basic Multilingual Plane (Unicode 14.0, Python 3.11's), for the JSON Schema:
# a pattern cannot name the few format characters beyond it in a way every regex dialect reads.
ONE_LINE_PATTERN = (
    r"^[^\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    r"\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]*$"
)


def _one_line(value: str) -> str:
    # Names are written into mails: a line break would let one forge lines of the message, and an
    # invisible or bidirectional character would let one name pass for another.
    if any(unicodedata.category(character) in _NOT_ON_ONE_LINE for character in value):
        raise invalid("must not contain line breaks, control characters or invisible format characters")
    return value


# Storable text that stays on one line and shows what it holds.
OneLineStr = Annotated[
    StorableStr,
    AfterValidator(_one_line),
    Documented("pattern", ONE_LINE_PATTERN),
    Field(
        description="One line of text: no control characters (newlines and tabs included), invisible "
        "format characters or line and paragraph separators (Unicode categories Cc, Cf, Zl and Zp)."
    ),
]


# The longest address RFC 5321 (and email-validator) allows.
MAX_EMAIL_LENGTH = 254

Email = Annotated[
    str,
    Field(
        max_length=MAX_EMAIL_LENGTH,
        description="Compared without regard to case. Addresses at .arpa, .invalid, .local, .localhost "
        "and .onion are refused.",
        examples=[example.EMAIL],
    ),
    AfterValidator(_email),
    Documented("format", "email"),
]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omittable() -> Any:
    """A PATCH field that may be left out but never sent as null (`null` is a 422).

    Left out, it stays unset and `model_dump(exclude_unset=True)` skips it; the docs show no default.
    """
    return Field(default=None, json_schema_extra=_drop_default)


def not_null(schema: dict[str, Any]) -> None:
    """Document an optional header as a string: a header that is left out is absent, never null."""
    branches = [branch for branch in schema.pop("anyOf", []) if branch.get("type") != "null"]
    if len(branches) == 1:
        schema.update(branches[0])


def valid_id(value: int) -> bool:
    return 1 <= value <= MAX_ID
