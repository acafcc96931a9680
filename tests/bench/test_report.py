"""The figures the benchmark reports: ratios, the targets, the table, the JSON file and the chart."""

import json
from pathlib import Path
from typing import Any

import pytest

from bench.report import Measurement, Results, add_ratios, draw_chart, evaluate, table, write_json
from bench.run import parse_options


def measurement(target: str, scenario: str, rps: float, **fields: object) -> Measurement:
    values: dict[str, object] = {
        "target": target,
        "database": "postgresql",
        "users": 10_000,
        "scenario": scenario,
        "label": scenario,
        "connections": 32,
        "requests_per_second": rps,
        "p50_ms": 1.0,
        "p99_ms": 5.0,
        "errors": 0,
        **fields,
    }
    return Measurement(**values)  # type: ignore[arg-type]


def results(*measurements: Measurement, memory: dict[str, object] | None = None) -> Results:
    settings = {"users": 10_000, "connections": 32, "growth_users": 1_000_000}
    return Results(machine={}, settings=settings, measurements=list(measurements), memory=memory or {})


def checks_by_name(run: Results) -> dict[str, bool]:
    add_ratios(run)
    evaluate(run)
    return {check.name: check.met for check in run.checks}


def test_ratios_are_to_the_raw_driver_limit_of_the_same_run() -> None:
    run = results(measurement("raw", "get_user", 4000), measurement("inkwell", "get_user", 3000))

    add_ratios(run)

    assert [m.ratio for m in run.measurements] == [1.0, 0.75]


def test_each_request_is_compared_with_the_same_request_on_both_peers() -> None:
    run = results(
        measurement("asyncpg", "list_users", 4000),
        measurement("seed", "list_users", 1000),
        measurement("inkwell", "list_users", 2000),
        measurement("inkwell", "list_users", 2000, database="sqlite"),
    )

    add_ratios(run)

    inkwell = run.measurements[2]
    assert (inkwell.vs_ceiling, inkwell.vs_seed) == (0.5, 2.0)
    assert run.measurements[0].vs_ceiling is None  # a peer is not compared with itself
    assert run.measurements[3].vs_ceiling is None  # the peers run on PostgreSQL only


def test_the_get_target_needs_the_ratio_to_the_ceiling_and_the_p99() -> None:
    def run_with(rps: float, p99_ms: float) -> Results:
        return results(
            measurement("asyncpg", "get_user", 5000), measurement("inkwell", "get_user", rps, p99_ms=p99_ms)
        )

    assert checks_by_name(run_with(3100, 15))["PostgreSQL get_user"] is True
    assert checks_by_name(run_with(3100, 16))["PostgreSQL get_user"] is False
    assert checks_by_name(run_with(2900, 10))["PostgreSQL get_user"] is False


def test_errors_miss_a_target_whatever_the_speed() -> None:
    run = results(
        measurement("asyncpg", "create_user", 4000), measurement("inkwell", "create_user", 3000, errors=2)
    )

    assert checks_by_name(run)["PostgreSQL create_user"] is False


def test_sign_in_may_cost_a_fifth_of_the_request() -> None:
    run = results(
        measurement("inkwell", "get_user", 3000),
        measurement("auth", "get_user", 2500, label="get signed in"),
        measurement("inkwell", "patch_user", 1000),
        measurement("auth", "patch_user", 700, label="patch signed in"),
    )

    checks = checks_by_name(run)

    assert checks["Signed in get signed in"] is True
    assert checks["Signed in patch signed in"] is False


def test_sign_in_is_compared_with_sign_in_off_measured_beside_it() -> None:
    run = results(
        measurement("inkwell", "get_user", 3000),  # minutes earlier, on a quieter machine
        measurement("open", "get_user", 2000),
        measurement("auth", "get_user", 1700, label="get signed in"),
    )

    assert checks_by_name(run)["Signed in get signed in"] is True


def test_growth_compares_the_same_request_at_both_sizes() -> None:
    flat = results(
        measurement("inkwell", "list_users_deep", 2000),
        measurement("inkwell", "list_users_deep", 1500, users=1_000_000, label="deep"),
    )
    steep = results(
        measurement("inkwell", "user_posts", 2000),
        measurement("inkwell", "user_posts", 1000, users=1_000_000, label="posts"),
    )

    assert checks_by_name(flat)["deep, 1,000,000 rows"] is True
    assert checks_by_name(steep)["posts, 1,000,000 rows"] is False


def test_sqlite_reads_must_match_postgresql_and_writers_must_not_fail() -> None:
    run = results(
        measurement("inkwell", "get_user", 2000),
        measurement("inkwell", "get_user", 2500, database="sqlite", label="lite get"),
        measurement("inkwell", "list_users", 2000),
        measurement("inkwell", "list_users", 1500, database="sqlite", label="lite list"),
        measurement("inkwell", "concurrent_writers", 900, database="sqlite", connections=64, errors=1),
    )

    checks = checks_by_name(run)

    assert checks["SQLite lite get"] is True
    assert checks["SQLite lite list"] is False
    assert checks["SQLite, 64 concurrent writers"] is False


def test_a_cached_read_pays_only_when_it_is_faster_than_without_redis() -> None:
    run = results(
        measurement("inkwell", "user_posts", 2000, label="posts"),
        measurement("cached", "user_posts", 2600, label="posts"),
        measurement("inkwell", "list_posts", 1000, database="sqlite", label="page"),
        measurement("cached", "list_posts", 900, database="sqlite", label="page"),
        measurement("cached", "list_posts", 5000),  # nothing to compare it with
    )

    assert checks_by_name(run) == {
        "Redis cache, PostgreSQL posts": True,
        "Redis cache, SQLite page": False,
    }


@pytest.mark.parametrize(("last", "flat"), [(101.0, True), (120.0, False)])
def test_memory_is_flat_when_the_end_of_the_load_matches_its_start(last: float, flat: bool) -> None:
    samples = [[t, 100.0] for t in range(10)] + [[t, last] for t in range(10, 20)]
    run = results(memory={"seconds": 20, "samples": samples})

    assert checks_by_name(run) == {"Resident memory over 20 s of load": flat}


@pytest.mark.parametrize(
    ("rps", "p99_ms", "errors", "met"),
    [(500, 40, 0, True), (400, 40, 0, False), (500, 120, 0, False), (500, 40, 1, False)],
)
def test_reads_during_a_sign_up_flood_keep_half_their_throughput_and_a_short_tail(
    rps: float, p99_ms: float, errors: int, met: bool
) -> None:
    run = results(
        measurement("flood", "list_posts", 900, p99_ms=20, label="GET /posts"),
        measurement("flood", "flood_one", rps, p99_ms=p99_ms, errors=errors, label="GET /posts, one"),
        measurement("flood", "flood_one_sign_ups", 700, errors=690),  # refusals are the point
    )

    assert checks_by_name(run) == {"PostgreSQL GET /posts, one": met}


def test_each_shape_of_the_flood_is_checked_against_the_same_reads_alone() -> None:
    run = results(
        measurement("flood", "list_posts", 800, p99_ms=20, label="GET /posts"),
        measurement("flood", "flood_one", 600, p99_ms=50, label="one address"),
        measurement("flood", "flood_spread", 300, p99_ms=90, label="many addresses"),
    )
    evaluate(run)

    assert [(check.name, check.value, check.met) for check in run.checks] == [
        ("PostgreSQL one address", "0.75x, p99 50.0 ms (2.5x)", True),
        ("PostgreSQL many addresses", "0.38x, p99 90.0 ms (4.5x)", False),
    ]


def test_nothing_is_checked_that_was_not_measured() -> None:
    assert checks_by_name(results(measurement("bare", "get_user", 9000))) == {}


def test_table_json_and_chart(tmp_path: Path) -> None:
    run = results(
        measurement("raw", "get_user", 4000, cpu_us_per_request=200),
        measurement("inkwell", "get_user", 1000, cpu_us_per_request=800),
        measurement("asyncpg", "get_user", 2000),
        measurement("seed", "get_user", 500),
        measurement("inkwell", "get_user", 1200, database="sqlite"),
        memory={"seconds": 6, "samples": [[t, 90.0] for t in range(6)]},
    )
    add_ratios(run)
    evaluate(run)

    text = table(run)
    write_json(run, tmp_path / "run.json")
    draw_chart(run, tmp_path / "run.png")

    assert "MISSED PostgreSQL get_user: 0.50" in text
    assert "   800  0.25  0.50  2.00" in text
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["measurements"][1]["ratio"] == 0.25
    assert saved["measurements"][1]["vs_ceiling"] == 0.5
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG")


def test_options_quick_and_full() -> None:
    quick = parse_options([], {"BENCH_QUICK": "1"})
    full = parse_options([], {})
    sized = parse_options(["--users", "5000", "--no-growth", "--databases", "sqlite"], {"BENCH_SECONDS": "3"})

    assert (quick.size.users, quick.seconds, quick.growth) == (1_000, 1, None)
    assert (full.size.users, full.seconds, full.soak_seconds) == (10_000, 10, 60)
    assert full.growth is not None
    assert full.growth.users == 1_000_000
    assert (sized.size.users, sized.size.posts, sized.seconds, sized.growth) == (5_000, 25_000, 3, None)
    assert sized.databases == ("sqlite",)


def test_wrk_runs_one_thread_unless_told_otherwise() -> None:
    assert parse_options([], {}).threads == 1
    assert parse_options([], {"BENCH_THREADS": "2"}).threads == 2
    assert parse_options(["--threads", "3"], {}).threads == 3


def search_results(*measurements: Measurement) -> Results:
    settings: dict[str, Any] = {
        "mode": "search",
        "search_rows": 1_000_000,
        "search_small_rows": 10_000,
        "connections": 32,
        "search_databases": ["mariadb"],
        "search_matches": {"search_2%_one": {"1000000": 20_000}, "search_20%_one": {"1000000": 200_000}},
    }
    return Results(machine={}, settings=settings, measurements=list(measurements))


def test_search_keeps_half_of_the_list_its_cost_at_ten_thousand_posts_and_its_p95() -> None:
    def search(scenario: str, rps: float, rows: int, p95: float | None = None) -> Measurement:
        found = measurement("search", scenario, rps, database="mariadb", users=rows, label=scenario)
        found.p95_ms = p95
        return found

    run = search_results(
        search("list_posts", 400, 1_000_000),
        search("search_2%_one", 300, 1_000_000, p95=120.0),
        search("search_2%_one", 400, 10_000),
        search("search_20%_one", 100, 1_000_000, p95=120.0),
        search("search_20%_one", 400, 10_000),
    )
    evaluate(run)

    assert checks_by_name(run) == {
        "mariadb search_2%_one: p95": False,  # at most 100 ms up to 25,000 matches
        "mariadb search_2%_one vs GET /posts": True,
        "mariadb search_2%_one at 1,000,000 vs 10,000": True,
        "mariadb search_20%_one: p95": True,  # at most 300 ms above
        "mariadb search_20%_one vs GET /posts": False,
        "mariadb search_20%_one at 1,000,000 vs 10,000": False,
    }


def test_the_search_mode_is_opt_in_and_short_when_quick(tmp_path: Path) -> None:
    assert parse_options([], {}).search is False
    search = parse_options([], {"BENCH_SEARCH": "1"})
    quick = parse_options([], {"BENCH_SEARCH": "1", "BENCH_QUICK": "1"})

    assert (search.search, search.search_rows, search.search_databases) == (
        True,
        1_000_000,
        ("postgresql", "sqlite", "mariadb"),
    )
    assert quick.search_rows == 20_000
    with pytest.raises(SystemExit):
        parse_options(["--search-databases", "oracle"], {})
    draw_chart(search_results(measurement("search", "search_2%_one", 300)), tmp_path / "chart.png")
    assert (tmp_path / "chart.png").stat().st_size > 0


def test_unknown_databases_are_refused() -> None:
    with pytest.raises(SystemExit):
        parse_options(["--databases", "oracle"], {})


def test_tracing_is_reported_as_a_ratio_to_the_same_request_untraced() -> None:
    def run_with(rps: float) -> Results:
        return results(
            measurement("tracing", "get_user_untraced", 1000, cpu_us_per_request=1000.0),
            measurement("tracing", "get_user_traced", rps, cpu_us_per_request=1250.0, label="traced"),
        )

    run = run_with(800)
    add_ratios(run)
    evaluate(run)

    [check] = [check for check in run.checks if check.name == "PostgreSQL traced"]
    assert (check.value, check.met) == ("0.80, +250 us CPU", True)
    assert checks_by_name(run_with(400))["PostgreSQL traced"] is False
