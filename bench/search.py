"""The search benchmark (`BENCH_SEARCH=1`): a corpus of posts whose words follow Zipf's law, searched for
words in frequency bands, against the first page of `GET /posts` measured beside it, at 10,000 posts and
at `BENCH_SEARCH_ROWS` (1,000,000). `mariadb-innodb` in `BENCH_SEARCH_DATABASES` is MariaDB without the
Mroonga table (InnoDB's FULLTEXT index alone), to measure both paths on a server that has the engine.

The corpus is the same at every run (a seeded generator), written once as a CSV file under
`BENCH_SEARCH_CACHE` (default `~/.cache/inkwell-bench`) with the number of posts each band's query
matches; the 10,000-post corpus is its first 10,000 posts. Each query is measured twice: at low
concurrency (`LOW_CONNECTIONS`), for its latency (p95), and under the run's load (32 connections), for
its throughput.
"""

import asyncio
import csv
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import asyncpg
import numpy as np
from sqlalchemy import create_engine, insert

from bench import seed
from bench.report import Check, Results
from bench.scenarios import Scenario
from bench.wrk import Load, WrkFailed, wrk_command
from inkwell.models import Post, User
from inkwell.posts import fulltext

if TYPE_CHECKING:
    from bench.run import Bench

# The corpus: VOCABULARY words, the word of rank r drawn with a probability proportional to 1 / r**ZIPF_S;
# each post a title of TITLE_WORDS words and a body of BODY_WORDS.
VOCABULARY = 30_000
ZIPF_S = 1.0
TITLE_WORDS = 6
BODY_WORDS = 40
CORPUS_SEED = 20261207
CORPUS_VERSION = 1
CHUNK = 100_000
SMALL_ROWS = 10_000
USERS = 2_000

# The bands: the share of the posts a word is in (the last one: about 200 posts of a million).
BANDS = {"most": 0.95, "20%": 0.20, "2%": 0.02, "0.25%": 0.0025, "200": 0.0002}
LOW_CONNECTIONS = 2
LOW_SECONDS = 5.0
# Targets (issue: search at a million posts): p95 at low concurrency by database, in ms; MariaDB's
# depends on how many posts match.
P95_TARGET_MS = {"postgresql": 20.0, "sqlite": 30.0}
MARIADB_P95_MS = ((25_000, 100.0), (None, 300.0))
THROUGHPUT_FLOOR = 0.5
GROWTH_CEILING = 1.5

_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pu", "de", "fa", "gi", "ho", "ju", "be")


def word(rank: int) -> str:
    """The word of `rank` (0 the most common): syllables spelling rank + 16 in base 16, so every word has
    two syllables or more (four letters: every engine indexes it) and no two ranks share one."""
    number, letters = rank + len(_SYLLABLES), []
    while number:
        number, digit = divmod(number, len(_SYLLABLES))
        letters.append(_SYLLABLES[digit])
    return "".join(reversed(letters))


def _probabilities() -> Any:
    weights = 1.0 / np.arange(1, VOCABULARY + 1, dtype=np.float64) ** ZIPF_S
    return weights / weights.sum()


def band_ranks() -> dict[str, int]:
    """For each band, the rank of the word whose expected share of posts is nearest the band's."""
    words_per_post = TITLE_WORDS + BODY_WORDS
    share = 1.0 - (1.0 - _probabilities()) ** words_per_post
    return {band: int(np.abs(share - wanted).argmin()) for band, wanted in BANDS.items()}


# The second word of the two-word queries: the second most common, in most posts too.
PARTNER_RANK = 1


@dataclass(frozen=True)
class Query:
    scenario: str
    label: str
    q: str
    ranks: tuple[int, ...]


def queries() -> list[Query]:
    found = []
    for band, rank in band_ranks().items():
        found.append(Query(f"search_{band}_one", f"q= one word, {band}", word(rank), (rank,)))
        partner = PARTNER_RANK if rank != PARTNER_RANK else 0
        found.append(
            Query(
                f"search_{band}_two",
                f"q= two words, {band}",
                f"{word(rank)} {word(partner)}",
                (rank, partner),
            )
        )
    return found


def scenarios() -> list[Scenario]:
    listing = Scenario("list_posts", "GET /posts (first page)", "search_band.lua", ("/posts", "-"))
    return [listing] + [
        Scenario(query.scenario, query.label, "search_band.lua", ("/posts", quote_plus(query.q)))
        for query in queries()
    ]


# The corpus on disk.


def cache_dir() -> Path:
    return Path(os.environ.get("BENCH_SEARCH_CACHE") or Path.home() / ".cache" / "inkwell-bench")


def corpus(rows: int) -> tuple[Path, dict[str, dict[str, int]]]:
    """The CSV file of `rows` posts (title, body), made if it is not cached, and how many of the first
    SMALL_ROWS and of all posts each query matches."""
    directory = cache_dir()
    path = directory / f"search-corpus-v{CORPUS_VERSION}-{rows}.csv"
    counts_path = path.with_suffix(".json")
    if path.exists() and counts_path.exists():
        return path, json.loads(counts_path.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    print(f"search corpus: writing {rows:,} posts to {path}", flush=True)
    started = time.monotonic()
    counts = _write_corpus(path, rows)
    counts_path.write_text(json.dumps(counts, indent=2) + "\n")
    print(f"  written in {time.monotonic() - started:.1f} s", flush=True)
    return path, counts


def _write_corpus(path: Path, rows: int) -> dict[str, dict[str, int]]:
    generator = np.random.Generator(np.random.PCG64(CORPUS_SEED))
    probabilities = _probabilities()
    vocabulary = np.array([word(rank) for rank in range(VOCABULARY)], dtype=object)
    capitalized = np.array([text.capitalize() for text in vocabulary], dtype=object)
    wanted = queries()
    counts: dict[str, dict[str, int]] = {query.scenario: {"small": 0, "all": 0} for query in wanted}
    partial = path.with_suffix(".partial")
    with partial.open("w", newline="") as file:
        writer = csv.writer(file)
        for start in range(0, rows, CHUNK):
            size = min(CHUNK, rows - start)
            ranks = generator.choice(VOCABULARY, size=(size, TITLE_WORDS + BODY_WORDS), p=probabilities)
            for query in wanted:
                matched = np.ones(size, dtype=bool)
                for rank in query.ranks:
                    matched &= (ranks == rank).any(axis=1)
                counts[query.scenario]["all"] += int(matched.sum())
                if start < SMALL_ROWS:
                    counts[query.scenario]["small"] += int(matched[: SMALL_ROWS - start].sum())
            for row in ranks:
                title = capitalized[row[0]] + " " + " ".join(vocabulary[row[1:TITLE_WORDS]])
                body = (
                    capitalized[row[TITLE_WORDS]] + " " + " ".join(vocabulary[row[TITLE_WORDS + 1 :]]) + "."
                )
                writer.writerow((title, body))
    partial.rename(path)
    return counts


def post_rows(path: Path, rows: int, *, now: datetime) -> Iterator[tuple[object, ...]]:
    """The first `rows` posts of the corpus, as seed.POST_COLUMNS, their authors in turn."""
    with path.open(newline="") as file:
        for number, (title, body) in enumerate(islice(csv.reader(file), rows)):
            yield (title, body, 1 + number % USERS, now, now)


# Loading it.


def load_postgresql(url: str, path: Path, rows: int) -> None:
    asyncio.run(_load_postgresql(url, path, rows))


async def _load_postgresql(url: str, path: Path, rows: int) -> None:
    now = datetime.now(UTC)
    connection = await asyncpg.connect(seed.asyncpg_dsn(url))
    try:
        users = seed.user_rows(USERS, now=now)
        await connection.copy_records_to_table("users", records=users, columns=seed.USER_COLUMNS)
        records = post_rows(path, rows, now=now)
        await connection.copy_records_to_table("posts", records=records, columns=seed.POST_COLUMNS)
        await connection.execute("VACUUM ANALYZE users")
        await connection.execute("VACUUM ANALYZE posts")
    finally:
        await connection.close()


def load_sqlite(url: str, path: Path, rows: int) -> None:
    _load_and_analyze(url, path, rows, "ANALYZE")


def load_mariadb(url: str, path: Path, rows: int) -> None:
    _load_and_analyze(seed.pymysql_url(url), path, rows, "ANALYZE TABLE users, posts")


def _load_and_analyze(url: str, path: Path, rows: int, analyze: str) -> None:
    """The corpus in batches, then the planner's statistics gathered (`analyze`)."""
    _load_batches(url, path, rows)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(analyze)
    finally:
        engine.dispose()


def _load_batches(url: str, path: Path, rows: int) -> None:
    """Users and posts in batches of seed.BATCH, one transaction each (InnoDB writes a batch's full-text
    words at its commit)."""
    now = datetime.now(UTC)
    engine = create_engine(url)
    try:
        for table, columns, records in (
            (User, seed.USER_COLUMNS, seed.user_rows(USERS, now=now)),
            (Post, seed.POST_COLUMNS, post_rows(path, rows, now=now)),
        ):
            while batch := list(islice(records, seed.BATCH)):
                with engine.begin() as connection:
                    connection.execute(insert(table), [dict(zip(columns, row, strict=True)) for row in batch])
    finally:
        engine.dispose()


# Running it.


def run(bench: "Bench") -> None:
    """Each database, at SMALL_ROWS and at the run's size: GET /posts and every query, at low concurrency
    and under load."""
    rows = bench.options.search_rows
    path, counts = corpus(rows)
    bench.results.settings["search_matches"] = {
        query.scenario: {
            str(SMALL_ROWS): counts[query.scenario]["small"],
            str(rows): counts[query.scenario]["all"],
        }
        for query in queries()
    }
    bench.results.settings["search_queries"] = {query.scenario: query.q for query in queries()}
    for database in bench.options.search_databases:
        for size in sorted({min(SMALL_ROWS, rows), rows}):
            with (
                database_of(bench, database, path, size) as url,
                bench.inkwell(url, settings=SERVER_SETTINGS) as server,
            ):
                for scenario in bench.selected(scenarios()):
                    low = _measure_low(bench, server, scenario)
                    measurement = bench.measure(
                        server, scenario, target="search", database=database, users=size
                    )
                    measurement.p95_ms = low


# The bench's one client address would soon be refused: the per-address search limit is lifted.
SERVER_SETTINGS = {"INKWELL_SEARCH_LIMIT_PER_ADDRESS": str(10**9)}


def _measure_low(bench: "Bench", server: Any, scenario: Scenario) -> float:
    """The p95 latency, in ms, at LOW_CONNECTIONS (after a second of warming up)."""
    seconds = 1.0 if bench.options.quick else LOW_SECONDS
    for duration in (1.0, seconds):
        command = wrk_command(
            bench.wrk,
            server.url,
            scenario.script,
            list(scenario.args),
            Load(1, LOW_CONNECTIONS, duration),
        )
        completed = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if completed.returncode != 0:
            raise WrkFailed(f"wrk exited {completed.returncode}: {completed.stderr.strip()}")
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH_P95 "):
            return round(int(line.split()[1]) / 1000, 2)
    raise WrkFailed(f"no BENCH_P95 line in wrk's output:\n{completed.stdout}")


@contextmanager
def database_of(bench: "Bench", database: str, path: Path, rows: int) -> Iterator[str]:
    """A fresh database of `database` holding the corpus's first `rows` posts."""
    print(f"{database}: loading {rows:,} posts", flush=True)
    started = time.monotonic()
    if database == "postgresql":

        def loaded(url: str) -> None:
            load_postgresql(url, path, rows)
            print(f"  loaded in {time.monotonic() - started:.1f} s", flush=True)

        with bench.new_postgresql_database("inkwell_bench_search", loaded) as url:
            yield url
        return
    if database == "sqlite":
        file = bench.workdir / f"search-{rows}.db"
        url = seed.sqlite_url(file)
        try:
            seed.migrate(url)
            load_sqlite(url, path, rows)
            print(f"  loaded in {time.monotonic() - started:.1f} s", flush=True)
            yield url
        finally:
            file.unlink(missing_ok=True)
        return
    name = f"inkwell_bench_search_{os.getpid()}"
    url = seed.create_mariadb_database(bench.options.mariadb_url, name)
    try:
        seed.migrate(url)
        if database == "mariadb-innodb":
            _drop_mroonga_table(url)
        load_mariadb(url, path, rows)
        print(f"  loaded in {time.monotonic() - started:.1f} s", flush=True)
        yield url
    finally:
        seed.drop_mariadb_database(bench.options.mariadb_url, name)


def _drop_mroonga_table(url: str) -> None:
    """The database as the migrations leave it on a server without Mroonga: no table of texts, no
    triggers."""
    engine = create_engine(seed.pymysql_url(url))
    try:
        with engine.begin() as connection:
            for trigger in fulltext.MROONGA_TRIGGERS:
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {fulltext.MROONGA_TABLE}")
    finally:
        engine.dispose()


# The targets.


def checks(results: Results) -> list[Check]:
    """For each database and query, at the large size: the p95 at low concurrency, the throughput against
    GET /posts, and the cost against the same query at SMALL_ROWS."""
    rows = results.settings.get("search_rows")
    matches = results.settings.get("search_matches", {})
    found: list[Check] = []
    for database in results.settings.get("search_databases", []):
        listing = results.find("search", database, "list_posts", rows)
        for query in queries():
            search = results.find("search", database, query.scenario, rows)
            if search is None:
                continue
            small = results.find("search", database, query.scenario, min(SMALL_ROWS, rows or 0))
            name = f"{database} {search.label}"
            limit = _p95_target(database, matches.get(query.scenario, {}).get(str(rows)))
            if search.p95_ms is not None and limit is not None:
                found.append(
                    Check(
                        f"{name}: p95", f"<= {limit:g} ms", f"{search.p95_ms:.1f} ms", search.p95_ms <= limit
                    )
                )
            if listing and listing.requests_per_second:
                kept = search.requests_per_second / listing.requests_per_second
                found.append(
                    Check(
                        f"{name} vs GET /posts",
                        f">= {THROUGHPUT_FLOOR:.2f}x",
                        f"{kept:.2f}x",
                        kept >= THROUGHPUT_FLOOR,
                    )
                )
            if small and small is not search and search.requests_per_second:
                cost = small.requests_per_second / search.requests_per_second
                found.append(
                    Check(
                        f"{name} at {rows:,} vs {small.users:,}",
                        f"cost <= {GROWTH_CEILING:.2f}x",
                        f"{cost:.2f}x",
                        cost <= GROWTH_CEILING,
                    )
                )
    return found


def _p95_target(database: str, matches: int | None) -> float | None:
    if not database.startswith("mariadb"):
        return P95_TARGET_MS.get(database)
    if matches is None:
        return None
    return next(limit for most, limit in MARIADB_P95_MS if most is None or matches <= most)
