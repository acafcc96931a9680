"""The documentation site builds strictly (no broken link or anchor), its front page is the README, and its
table of settings lists every setting of `inkwell.config.Settings`, each with a description."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices

from inkwell.config import Settings

ROOT = Path(__file__).resolve().parents[1]
# The first cell of each row of a settings table: the variable to set.
VARIABLE_CELL = re.compile(r"<tr>\s*<td><code>([A-Z0-9_]+)</code>")


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def variable(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"INKWELL_{name.upper()}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    result = build(ROOT, site)
    assert result.returncode == 0, result.stdout + result.stderr
    return site


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
    ],
    ids=["anchor", "setting"],
)
def test_a_broken_page_fails_the_build(tmp_path: Path, line: str, named: str) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    with (project / "docs" / "cache.md").open("a") as page:
        page.write(f"\n{line}\n")

    result = build(project, tmp_path / "site")

    assert result.returncode != 0
    assert named in result.stdout + result.stderr
