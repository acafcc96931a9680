"""Structured logs (structlog): JSON lines in production, readable lines on a terminal.

Inkwell's own request log goes through structlog directly (the cheap path); records from the standard
library (uvicorn, SQLAlchemy, Inkwell's warnings) go through the same processors via one root handler.
Every line passes through `redact` first, so no password, token, secret or full email address is written.
"""

import logging
import re
import sys
from typing import TextIO

import structlog
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from inkwell.config import LogFormat, Settings

REDACTED = "[redacted]"
# Keys whose value is never written, whatever it is.
SECRET_KEYS = frozenset(
    {
        "password",
        "password_hash",
        "new_password",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "client_secret",
        "secret_key",
        "api_key",
        "authorization",
        "cookie",
        "set-cookie",
    }
)
# Keys Inkwell fills itself with values that cannot carry a secret: skipping them keeps the request log cheap.
TRUSTED_KEYS = frozenset(
    {"timestamp", "level", "logger", "method", "route", "status", "duration_ms", "request_id"}
)

# An email address loses its local part and keeps its domain as written. The local part is anything RFC 5321
# and 6531 allow: a quoted string, or a dot-atom of any characters but whitespace, controls and the specials
# ( ) < > [ ] : ; , " \ @ (so ! # $ % & ' * + / = ? ^ ` { | } ~ and UTF-8 letters are part of it). The domain
# is dotted labels (UTF-8 too) ending in a top-level name of letters, or in punycode.
_DOMAIN = r"(?:[^\W_](?:[\w-]*[^\W_])?\.)+(?:[^\W\d_]{2,}|(?i:xn--)[\w-]+)(?![\w@-])"
_DOMAIN_AT = re.compile(_DOMAIN)
_QUOTED_LOCAL_PART = re.compile(rf'"(?:[^"\\\r\n]|\\[^\r\n])*"@(?={_DOMAIN})')
# A run of the characters an unquoted address may hold, @ included, with an @ in it. It starts only where
# such a run starts: tried from every position inside a long run, a pattern takes quadratic time (a second
# for 40 kB of text). `_redact_run` finds every address in the run, so that one written right after another
# (`a@example.com/b@example.com`) is not taken for part of the first one's domain.
_ADDRESS_CHAR = r'[^\s\x00-\x1f\x7f()<>\[\]:;,"\\]'
_ADDRESS_RUN = re.compile(rf"(?<!{_ADDRESS_CHAR}){_ADDRESS_CHAR}*@{_ADDRESS_CHAR}*")
# What the text around an address puts before it: quotes and slashes (`'ada@example.com'`, `//ada@host`),
# and a name given a quoted value (`input_value='ada@example.com'`).
_LOCAL_PART = re.compile(
    r"(?P<opening>(?:[\w.-]+=(?=['`\u2018\u201c]))?['`/\u2018\u201c\u00ab]*+).+", re.DOTALL
)

# No pattern looks past the end of a line (`[ \t]`, never `\s`): a name ending one line
# ("reset-password:") must not take the first word of the next for its value and leave the secret after
# it in clear.
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic)[ \t]+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
# A name made with one of these words, alone or compound (`refresh_token`, `new-password`, `password_hash`).
_CREDENTIAL_NAME = r"(?:[A-Za-z0-9]+[_-])*(?:password|passwd|token|secret|api[_-]?key)(?:[_-][A-Za-z0-9]+)*"
_SECRET_ASSIGNMENT = re.compile(
    rf"(?i)(?<![\w-])({_CREDENTIAL_NAME})([\"']?[ \t]*[=:][ \t]*[\"']?)[^\s&\"',;}}]+"
)
# An Argon2 hash in PHC form ($argon2id$v=19$m=65536,t=3,p=4$salt$hash), whatever it is attached to.
_PASSWORD_HASH = re.compile(r"\$argon2(?:id|i|d)\$[A-Za-z0-9+/=,.$-]*")
# userinfo in a URL (postgresql://user:password@host) keeps the user and loses the password.
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@/\s]+@")


# Every pattern above needs one of these; text without any (most of it) is returned as it is, cheaply.
_SUSPECT = re.compile(r"[@:=]|eyJ|(?i:bearer|basic)")


def redact_text(text: str) -> str:
    """The text with credentials replaced and email addresses reduced to their domain."""
    if _SUSPECT.search(text) is None:
        return text
    text = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", text)
    text = _JWT.sub(REDACTED, text)
    text = _PASSWORD_HASH.sub(REDACTED, text)
    text = _AUTH_SCHEME.sub(rf"\1 {REDACTED}", text)
    text = _SECRET_ASSIGNMENT.sub(rf"\1\2{REDACTED}", text)
    text = _QUOTED_LOCAL_PART.sub("***@", text)
    return _ADDRESS_RUN.sub(_redact_run, text)


def _redact_run(run: re.Match[str]) -> str:
    """The run of address characters with the local part of every address in it replaced by `***`."""
    text = run[0]
    pieces: list[str] = []
    start = 0  # where the next local part may begin: after the last address, or after an @ that began none
    at = text.find("@")
    while at != -1:
        local = _LOCAL_PART.fullmatch(text, start, at)
        domain = _DOMAIN_AT.match(text, at + 1)
        if local is None or domain is None:
            pieces.append(text[start : at + 1])
            start = at + 1
        else:
            pieces.append(f"{local['opening']}***@{domain[0]}")
            start = domain.end()
        at = text.find("@", start)
    pieces.append(text[start:])
    return "".join(pieces)


class Unredacted(str):
    """Text that `redact` leaves as it is: only what a setting explicitly asks to see in the log
    (`INKWELL_MAIL_LOG_BODY`'s whole mails, for development)."""

    __slots__ = ()


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: scrub every value that could carry a secret or an email address."""
    for key, value in event_dict.items():
        if key in TRUSTED_KEYS or isinstance(value, Unredacted):
            continue
        if key.lower() in SECRET_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact_text(value)
        elif value is not None and not isinstance(value, int | float | bool):
            event_dict[key] = redact_text(repr(value))
    return event_dict


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    # uvicorn attaches a second, colored copy of some messages; one copy is enough.
    event_dict.pop("color_message", None)
    return event_dict


def uses_json(log_format: LogFormat, stream: TextIO) -> bool:
    if log_format == "auto":
        return not stream.isatty()
    return log_format == "json"


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Send structlog's and the standard library's records to `stream` (stderr), rendered alike."""
    stream = stream or sys.stderr
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    renderer: Processor
    if uses_json(settings.log_format, stream):
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        # Tracebacks become text before `redact`, so an exception's message is scrubbed too.
        structlog.processors.format_exc_info,
        redact,
    ]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(stream, level, shared, renderer)


def _route_standard_logging(stream: TextIO, level: int, shared: list[Processor], renderer: Processor) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, _drop_color_message, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.set_name("inkwell")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "inkwell"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers hand their records to the root handler instead of printing their own format;
    # its access log is replaced by Inkwell's request log (which names routes, not paths with query strings).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = name != "uvicorn.access"


def request_logger() -> FilteringBoundLogger:
    """A concrete logger for the request log, bound to the configuration in force now."""
    logger: FilteringBoundLogger = structlog.get_logger().bind()
    return logger
