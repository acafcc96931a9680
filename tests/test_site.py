"""The documentation: its generated tables match the code in the pages themselves, and the site builds
strictly (no broken link or anchor), reads from the disk with no outside request, has the README for its
front page and a table of settings that lists every setting of `inkwell.config.Settings`."""

import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from docs import hooks
from pydantic import AliasChoices

from inkwell import __version__
from inkwell.config import Settings
from tests.docs_site import ROOT, build, site

__all__ = ["site"]  # the fixture, shared with the browser's tests

# The first cell of each row of a settings table: the variable to set.
VARIABLE_CELL = re.compile(r"<tr>\s*<td><code>([A-Z0-9_]+)</code>")
REVISION = re.compile(r'^revision: str = "([^"]+)"$', re.MULTILINE)


def variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"INKWELL_{name.upper()}"


def project_copy(tmp_path: Path) -> Path:
    """What the site is built from, copied where a test may break it."""
    project = tmp_path / "project"
    for folder in ("docs", "migrations"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    return project


def test_the_tables_written_in_the_pages_match_the_code() -> None:
    stale = hooks.stale_pages(ROOT)

    assert not stale, (
        f"Generated tables do not match the code in {', '.join(map(str, stale))}: run `make docs-tables`"
    )


def test_a_table_that_no_longer_matches_the_code_is_named_then_written_anew(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_copy(tmp_path)
    configuration, migrations = project / "docs" / "configuration.md", project / "docs" / "migrations.md"
    originals = {page: page.read_text() for page in (configuration, migrations)}
    # A default changed in the code, a revision added, and a new table asked for by its first line alone.
    configuration.write_text(originals[configuration].replace("| `900` |", "| `600` |"))
    migrations.write_text(re.sub(r"^\| `0010` .*\n", "", originals[migrations], flags=re.MULTILINE))
    (project / "docs" / "new.md").write_text("# New\n\n<!-- settings: cache_ttl -->\n")

    assert hooks.main(["--check"], root=project) == 1
    assert capsys.readouterr().err == (
        "Generated tables do not match the code in docs/configuration.md, docs/migrations.md, docs/new.md:"
        " run `make docs-tables`\n"
    )
    assert hooks.main([], root=project) == 0
    assert hooks.main(["--check"], root=project) == 0
    assert {page: page.read_text() for page in originals} == originals
    new = (project / "docs" / "new.md").read_text()
    assert new.endswith(
        "<!-- settings: cache_ttl -->\n\n| Variable | Type | Default | Description |\n"
        "|---|---|---|---|\n| `INKWELL_CACHE_TTL` | integer, > 0 | `300` | Seconds a cache entry lives"
        " at most. |\n\n<!-- end settings -->\n"
    )


def test_a_table_of_a_setting_that_does_not_exist_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = project_copy(tmp_path)
    (project / "docs" / "new.md").write_text("<!-- settings: cache_ttl no_such_setting -->\n")

    assert hooks.main([], root=project) == 1
    assert capsys.readouterr().err == "docs/new.md: no setting named no_such_setting\n"


def test_the_migrations_page_lists_every_revision() -> None:
    scripts = sorted((ROOT / "migrations" / "versions").glob("*.py"))
    revisions = [REVISION.search(script.read_text())[1] for script in scripts]  # type: ignore[index]
    listed = re.findall(r"^\| `([^`]+)` \|", (ROOT / "docs" / "migrations.md").read_text(), re.MULTILINE)

    assert revisions[:10] == [f"{number:04}" for number in range(1, 11)]
    assert listed == revisions


def test_the_changelog_starts_from_the_projects_version() -> None:
    changelog = (ROOT / "docs" / "changelog.md").read_text()
    versions = re.findall(r"^## (\d+\.\d+\.\d+)", changelog, re.MULTILINE)

    assert versions
    assert versions[0] == __version__


def test_the_navigation_is_grouped_and_holds_every_page_once() -> None:
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    sections = {
        name: [next(iter(page.values())) for page in pages] for item in nav for name, pages in item.items()
    }
    pages = [page for section in sections.values() for page in section]

    assert list(sections) == ["Start", "Use", "Operate", "Internals"]
    assert sections["Start"][0] == "index.md"
    assert sorted(pages) == sorted(
        str(page.relative_to(ROOT / "docs")) for page in (ROOT / "docs").rglob("*.md")
    )


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_has_a_description(name: str) -> None:
    description = Settings.model_fields[name].description

    assert description, f"{name} has no docstring to describe it"
    assert description.strip().endswith((".", ")")), description


@pytest.mark.slow
def test_the_configuration_page_lists_every_setting_once(site: Path) -> None:
    page = (site / "configuration.html").read_text()
    listed = VARIABLE_CELL.findall(page)

    assert sorted(listed) == sorted(variable(name) for name in Settings.model_fields)


@pytest.mark.slow
def test_the_pages_tables_of_settings_name_real_settings(site: Path) -> None:
    variables = {variable(name) for name in Settings.model_fields}
    for page in ("jobs", "cache", "account-mail", "tracing"):
        listed = VARIABLE_CELL.findall((site / f"{page}.html").read_text())

        assert listed, page
        assert set(listed) <= variables, page


def test_the_readmes_security_section_points_to_the_table_of_threats() -> None:
    readme = (ROOT / "README.md").read_text()
    security = (ROOT / "docs" / "security.md").read_text()
    section = readme.split("\n## Security\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(INKWELL_[A-Z0-9_]+)`", security))

    assert "(docs/security.md)" in section
    assert "| Threat | Defence | Settings |" in security
    assert named
    assert named <= {variable(name) for name in Settings.model_fields}


@pytest.mark.slow
def test_the_front_page_is_the_readme_with_its_links_into_the_site(site: Path) -> None:
    front = (site / "index.html").read_text()

    assert "A users-and-posts API service" in front
    assert 'href="configuration.html"' in front
    assert 'href="docs/' not in front


@pytest.mark.slow
@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("See [the API](api.md#no-such-heading).", "no-such-heading"),
        ("<!-- settings: no_such_setting -->", "no_such_setting"),
        ("<!-- settings: cache_ttl -->\n\n| stale |\n\n<!-- end settings -->", "run `make docs-tables`"),
    ],
    ids=["anchor", "setting", "stale-table"],
)
def test_a_broken_page_fails_the_build(tmp_path: Path, line: str, named: str) -> None:
    project = project_copy(tmp_path)
    with (project / "docs" / "cache.md").open("a") as page:
        page.write(f"\n{line}\n")

    result = build(project, tmp_path / "site")

    assert result.returncode != 0
    assert named in result.stdout + result.stderr


class Requests(HTMLParser):
    """Every URL a page loads by itself (scripts, styles, images, frames), leaving out the links it shows."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value and (name in ("src", "srcset", "poster", "data") or (name == "href" and tag != "a")):
                self.urls.append(value)


@pytest.mark.slow
def test_no_page_of_the_site_asks_for_anything_from_another_host(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    styles = sorted(site.rglob("*.css"))
    asked: dict[str, list[str]] = {}
    for page in pages:
        parser = Requests()
        parser.feed(page.read_text())
        asked[page.name] = parser.urls
    for style in styles:
        asked[style.name] = re.findall(r"""(?:url\(|@import\s+)["']?([^"')\s]+)""", style.read_text())

    assert {"index.html", "configuration.html", "upgrading.html"} <= {page.name for page in pages}
    assert any("javascripts/iframe-worker/shim.js" in urls for urls in asked.values())
    elsewhere = {
        name: [url for url in urls if urlsplit(url).scheme not in ("", "data") or url.startswith("//")]
        for name, urls in asked.items()
    }
    assert {name: urls for name, urls in elsewhere.items() if urls} == {}
    assert (site / "search" / "search_index.js").read_text().startswith("var __index = {")
