"""MkDocs hooks: the README as the site's front page, and tables of settings drawn from the settings class.

A page asks for a table with a line `<!-- settings -->` (every setting) or `<!-- settings: NAME ... -->`
(those fields, in that order), so that the documented names, types, defaults and descriptions are the
code's own and cannot drift from it.
"""

import re
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from inkwell.config import Settings

MARKER = re.compile(r"^<!-- settings(?::(?P<names>[^>]*))? -->$", re.MULTILINE)
# The README links into the site as `docs/PAGE.md`; on the site, pages are beside the front page.
README_LINK = re.compile(r"\]\(docs/")
HEADER = "| Variable | Type | Default | Description |\n|---|---|---|---|"


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == "index.md":
        readme = Path(config.config_file_path).parent / "README.md"
        markdown = README_LINK.sub("](", readme.read_text(encoding="utf-8"))
    for match in MARKER.finditer(markdown):
        unknown = set(_names(match["names"]) or ()) - set(Settings.model_fields)
        if unknown:
            raise PluginError(f"{page.file.src_uri}: no setting named {', '.join(sorted(unknown))}")
    return MARKER.sub(lambda match: settings_table(_names(match["names"])), markdown)


def settings_table(names: list[str] | None = None) -> str:
    """A Markdown table of the named settings, or of every setting in the class's order."""
    fields = Settings.model_fields
    rows = [_row(name, fields[name]) for name in (names or fields)]
    return "\n".join([HEADER, *rows])


def environment_variables(name: str, field: FieldInfo) -> list[str]:
    """The variables a setting is read from, the first being the one to use."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    prefix = Settings.model_config.get("env_prefix", "")
    return [f"{prefix}{name}".upper()]


def _names(text: str | None) -> list[str] | None:
    return text.split() if text else None


def _row(name: str, field: FieldInfo) -> str:
    first, *others = environment_variables(name, field)
    variable = f"`{first}`" + "".join(f" (or `{other}`)" for other in others)
    description = " ".join((field.description or "").split())
    cells = [variable, _type(field.annotation, field.metadata), _default(field), description]
    return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"


def _type(annotation: Any, metadata: list[Any]) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type(args[0], [*metadata, *args[1:]])
    if origin in (Union, types.UnionType):
        (present,) = [arg for arg in args if arg is not type(None)]
        return _type(present, metadata)
    if origin is Literal:
        *others, last = [f"`{value}`" for value in args]
        return f"{', '.join(others)} or {last}" if others else last
    if origin is list:
        return "comma-separated list"
    if annotation is bool:
        return "`true` or `false`"
    names = {int: "integer", float: "number", str: "text", SecretStr: "secret", Path: "path"}
    limits = [limit for item in metadata for limit in _limits(item)]
    return ", ".join([names.get(annotation, getattr(annotation, "__name__", str(annotation))), *limits])


def _limits(item: Any) -> list[str]:
    if isinstance(item, annotated_types.Gt):
        return [f"> {item.gt}"]
    if isinstance(item, annotated_types.Ge):
        return [f"≥ {item.ge}"]
    if isinstance(item, annotated_types.Le):
        return [f"≤ {item.le}"]
    if isinstance(item, annotated_types.MinLen):
        return [f"at least {item.min_length} character{'s' if item.min_length > 1 else ''}"]
    if isinstance(item, annotated_types.MaxLen):
        return [f"at most {item.max_length} characters"]
    pattern = getattr(item, "pattern", None)
    return [f"matching `{pattern}`"] if pattern else []


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return "empty" if not value else f"`{value}`"
    value = field.default
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"
