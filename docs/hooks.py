"""The documentation's generated tables, and the MkDocs hook that puts the README on the site's front page
and fails the build when a page's generated table no longer matches the code.

The tables of settings (drawn from `inkwell.config.Settings`) and of migrations (drawn from the revisions
in `migrations/versions/`) are written into the pages themselves, so that they read on the repository's
page as on the site, between two lines:

    <!-- settings -->                     every setting; `<!-- settings: NAME ... -->` those, in that order
    <!-- end settings -->

    <!-- revisions -->                    every revision of the schema, oldest first
    <!-- end revisions -->

`python docs/hooks.py` (`make docs-tables`) writes every table anew; `--check` lists the pages whose tables
no longer match the code, as the site's build and the test suite do.
"""

import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from alembic.script import ScriptDirectory
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from inkwell.config import Settings

ROOT = Path(__file__).resolve().parents[1]
FIX = "make docs-tables"
# A generated table: its opening line, then (once written) the table and the closing line.
BLOCK = re.compile(
    r"^<!-- (?P<kind>settings|revisions)(?::(?P<names>[^>\n]*))? -->\n"
    r"(?:(?:(?!<!-- ).*\n)*?<!-- end (?P=kind) -->\n)?",
    re.MULTILINE,
)
# The README links into the site as `docs/PAGE.md`; on the site, pages are beside the front page.
README_LINK = re.compile(r"\]\(docs/")
SETTINGS_HEADER = "| Variable | Type | Default | Description |\n|---|---|---|---|"
REVISIONS_HEADER = "| Revision | Created | What it does |\n|---|---|---|"
CREATE_DATE = re.compile(r"^Create Date: (\S+)", re.MULTILINE)


class UnknownName(Exception):
    """A table names a setting the code does not have."""


def on_page_markdown(markdown: str, /, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == "index.md":
        readme = Path(config.config_file_path).parent / "README.md"
        return README_LINK.sub("](", readme.read_text(encoding="utf-8"))
    try:
        current = with_tables(markdown, Path(config.config_file_path).parent)
    except UnknownName as error:
        raise PluginError(f"{page.file.src_uri}: {error}") from None
    if current != markdown:
        raise PluginError(f"{page.file.src_uri}: a generated table does not match the code; run `{FIX}`")
    return markdown


def with_tables(markdown: str, root: Path = ROOT) -> str:
    """The page with each of its generated tables written anew from the code."""
    tables: dict[str, Callable[[list[str] | None], str]] = {
        "settings": settings_table,
        "revisions": lambda _names: revisions_table(root / "migrations"),
    }

    def table(match: re.Match[str]) -> str:
        kind, names = match["kind"], _names(match["names"])
        return f"{match[0].splitlines()[0]}\n\n{tables[kind](names)}\n\n<!-- end {kind} -->\n"

    return BLOCK.sub(table, markdown)


def stale_pages(root: Path = ROOT) -> dict[Path, str]:
    """Each page under `root`/docs whose generated tables do not match the code, with its text as it
    should be."""
    stale = {}
    for page in sorted((root / "docs").rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        try:
            current = with_tables(text, root)
        except UnknownName as error:
            raise UnknownName(f"{page.relative_to(root)}: {error}") from None
        if current != text:
            stale[page] = current
    return stale


def main(arguments: list[str], root: Path = ROOT) -> int:
    """`make docs-tables`: write the tables that do not match the code; with `--check`, name their pages."""
    if arguments not in ([], ["--check"]):
        print("usage: python docs/hooks.py [--check]", file=sys.stderr)
        return 2
    try:
        stale = stale_pages(root)
    except UnknownName as error:
        print(error, file=sys.stderr)
        return 1
    names = ", ".join(str(page.relative_to(root)) for page in stale)
    if arguments:
        if stale:
            print(f"Generated tables do not match the code in {names}: run `{FIX}`", file=sys.stderr)
        return 1 if stale else 0
    for page, text in stale.items():
        page.write_text(text, encoding="utf-8")
    print(f"Wrote the tables of {names}" if stale else "Every generated table matches the code")
    return 0


def revisions_table(migrations: Path) -> str:
    """A Markdown table of the schema's revisions, oldest first, each with the first paragraph of its
    docstring."""
    scripts = reversed(list(ScriptDirectory(str(migrations)).walk_revisions()))
    rows = [_revision_row(script.revision, script.module.__doc__ or "") for script in scripts]
    return "\n".join([REVISIONS_HEADER, *rows])


def _revision_row(revision: str, docstring: str) -> str:
    summary = " ".join(docstring.split("\n\n", 1)[0].split())
    created = CREATE_DATE.search(docstring)
    cells = [f"`{revision}`", created[1] if created else "", summary]
    return "| " + " | ".join(cell.replace("|", r"\|") for cell in cells) + " |"


def settings_table(names: list[str] | None = None) -> str:
    """A Markdown table of the named settings, or of every setting in the class's order."""
    fields = Settings.model_fields
    unknown = sorted(set(names or ()) - set(fields))
    if unknown:
        raise UnknownName(f"no setting named {', '.join(unknown)}")
    rows = [_row(name, fields[name]) for name in (names or fields)]
    return "\n".join([SETTINGS_HEADER, *rows])


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


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
