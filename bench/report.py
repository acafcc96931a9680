"""The benchmark's figures: the targets they are checked against, a table, a JSON file and a chart."""

import json
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.scenarios import CACHED_READS, FLOOD_SHAPES, SIGNED_IN_SCENARIOS
from bench.wrk import WrkResult

RAW = "raw"
# The peers every scenario is measured on too (bench/peers.py).
CEILING = "asyncpg"
SEED = "seed"


@dataclass
class Measurement:
    # inkwell; bare (FastAPI, no database), raw (asyncpg, no framework); asyncpg (Inkwell's routes and
    # models on the bare driver) and seed (the tutorial's async variant); auth, cached, flood: Inkwell again,
    # and open: Inkwell with sign-in off, measured beside `auth`.
    target: str
    database: str
    users: int
    scenario: str
    label: str
    connections: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    # Server CPU time per request: steadier than requests/s on a machine shared with other work.
    cpu_us_per_request: float | None = None
    ratio: float | None = None  # to the raw-driver limit of the same run
    # To the same request on the asyncpg ceiling and on the tutorial, in the same run.
    vs_ceiling: float | None = None
    vs_seed: float | None = None
    # The search mode: the p95 latency at low concurrency (bench/search.py).
    p95_ms: float | None = None

    @classmethod
    def from_wrk(cls, result: WrkResult, **fields: Any) -> "Measurement":
        return cls(
            requests_per_second=round(result.requests_per_second, 1),
            p50_ms=round(result.p50_ms, 2),
            p99_ms=round(result.p99_ms, 2),
            errors=result.error_count,
            **fields,
        )


@dataclass
class Check:
    name: str
    target: str
    value: str
    met: bool


@dataclass
class Results:
    machine: dict[str, Any]
    settings: dict[str, Any]
    measurements: list[Measurement] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    # CPU microseconds per read of one user, by layer under the request (bench/layers.py).
    layers: dict[str, float] = field(default_factory=dict)

    def find(self, target: str, database: str, scenario: str, users: int | None = None) -> Measurement | None:
        for m in self.measurements:
            if (m.target, m.database, m.scenario) == (target, database, scenario) and users in (
                None,
                m.users,
            ):
                return m
        return None


def add_ratios(results: Results) -> None:
    """Each measurement's requests/s over the raw-driver limit measured in the same run, and over the
    same request on the peers (PostgreSQL)."""
    raw = results.find(RAW, "postgresql", "get_user")
    for m in results.measurements:
        if raw is not None and raw.requests_per_second:
            m.ratio = round(m.requests_per_second / raw.requests_per_second, 3)
        if m.target in (CEILING, SEED) or m.database != "postgresql":
            continue
        m.vs_ceiling = _over(m, results.find(CEILING, "postgresql", m.scenario, m.users))
        m.vs_seed = _over(m, results.find(SEED, "postgresql", m.scenario, m.users))


def _over(m: Measurement, peer: Measurement | None) -> float | None:
    if peer is None or not peer.requests_per_second:
        return None
    return round(m.requests_per_second / peer.requests_per_second, 3)


# The targets. Each returns None when the run did not measure what it needs.


def ratio_check(
    results: Results, scenario: str, floor: float, *, p99_under_ms: float | None = None
) -> Check | None:
    """Inkwell's request against the same request on FastAPI with hand-written SQL on asyncpg."""
    m = results.find("inkwell", "postgresql", scenario, results.settings["users"])
    if m is None or m.vs_ceiling is None:
        return None
    target = f">= {floor} of FastAPI on asyncpg" + (f", p99 <= {p99_under_ms:g} ms" if p99_under_ms else "")
    met = m.vs_ceiling >= floor and m.errors == 0 and (p99_under_ms is None or m.p99_ms <= p99_under_ms)
    value = f"{m.vs_ceiling:.2f}" + (f", p99 {m.p99_ms:.1f} ms" if p99_under_ms else "")
    return Check(f"PostgreSQL {m.label}", target, value, met)


def signed_in_check(results: Results, scenario: str, *, floor: float = 0.8) -> Check | None:
    """A request with sign-in on (a token read and its session checked) against the same without."""
    signed_in = results.find("auth", "postgresql", scenario)
    # Sign-in off as measured beside it (`open`), else as in the main run.
    plain = results.find("open", "postgresql", scenario) or results.find(
        "inkwell", "postgresql", scenario, results.settings["users"]
    )
    if signed_in is None or plain is None or not plain.requests_per_second:
        return None
    ratio = signed_in.requests_per_second / plain.requests_per_second
    met = ratio >= floor and signed_in.errors == 0
    return Check(f"Signed in {signed_in.label}", f">= {floor} of sign-in off", f"{ratio:.2f}", met)


def growth_check(results: Results, scenario: str, growth_users: int, *, limit: float = 1.5) -> Check | None:
    small = results.find("inkwell", "postgresql", scenario, results.settings["users"])
    large = results.find("inkwell", "postgresql", scenario, growth_users)
    if small is None or large is None or not large.requests_per_second:
        return None
    cost = small.requests_per_second / large.requests_per_second
    return Check(
        f"{large.label}, {growth_users:,} rows",
        f"<= {limit}x the cost at {small.users:,}",
        f"{cost:.2f}x",
        cost <= limit,
    )


def sqlite_reads_check(results: Results, scenario: str) -> Check | None:
    users = results.settings["users"]
    lite = results.find("inkwell", "sqlite", scenario, users)
    pg = results.find("inkwell", "postgresql", scenario, users)
    if lite is None or pg is None:
        return None
    ratio = lite.requests_per_second / pg.requests_per_second
    return Check(f"SQLite {lite.label}", ">= PostgreSQL", f"{ratio:.2f}x", ratio >= 1 and lite.errors == 0)


def writers_check(results: Results) -> Check | None:
    m = results.find("inkwell", "sqlite", "concurrent_writers")
    if m is None:
        return None
    return Check(
        f"SQLite, {m.connections} concurrent writers", "no error", f"{m.errors} errors", m.errors == 0
    )


def cache_check(results: Results, database: str, scenario: str) -> Check | None:
    """Whether a cached read pays for itself: faster with Redis than without, on the same database."""
    users = results.settings["users"]
    cached = results.find("cached", database, scenario, users)
    plain = results.find("inkwell", database, scenario, users)
    if cached is None or plain is None:
        return None
    ratio = cached.requests_per_second / plain.requests_per_second
    name = f"Redis cache, {'PostgreSQL' if database == 'postgresql' else 'SQLite'} {cached.label}"
    return Check(name, ">= 1x without it", f"{ratio:.2f}x", ratio >= 1 and cached.errors == 0)


def memory_check(memory: dict[str, Any], *, tolerance: float = 0.05) -> Check | None:
    """Flat: the last third of the samples averages within `tolerance` of the first third."""
    samples = [rss for _, rss in memory.get("samples", [])]
    if len(samples) < 6:
        return None
    third = len(samples) // 3
    first, last = statistics.fmean(samples[:third]), statistics.fmean(samples[-third:])
    growth = (last - first) / first
    value = f"{first:.1f} -> {last:.1f} MiB ({growth:+.1%})"
    return Check(
        f"Resident memory over {memory['seconds']:g} s of load",
        f"flat (< {tolerance:.0%})",
        value,
        growth < tolerance,
    )


def flood_check(
    results: Results, shape: str, *, floor: float = 0.5, p99_under_ms: float = 100
) -> Check | None:
    """Reads during one shape of a flood of sign-ups keep `floor` of their throughput alone, with a short
    tail; the sign-ups' refusals (429) are the point, and other errors (5xx, timeouts) are not."""
    alone = results.find("flood", "postgresql", "list_posts")
    flooded = results.find("flood", "postgresql", f"flood_{shape}")
    if alone is None or flooded is None or not alone.requests_per_second or not alone.p99_ms:
        return None
    kept = flooded.requests_per_second / alone.requests_per_second
    tail = flooded.p99_ms / alone.p99_ms
    return Check(
        f"PostgreSQL {flooded.label}",
        f">= {floor}x of the reads alone, p99 < {p99_under_ms:g} ms",
        f"{kept:.2f}x, p99 {flooded.p99_ms:.1f} ms ({tail:.1f}x)",
        kept >= floor and flooded.p99_ms < p99_under_ms and flooded.errors == 0,
    )


def tracing_check(results: Results, *, floor: float = 0.5) -> Check | None:
    """A request with every span exported (OTLP) against the same request on a server tracing nothing."""
    off = results.find("tracing", "postgresql", "get_user_untraced")
    on = results.find("tracing", "postgresql", "get_user_traced")
    if off is None or on is None or not off.requests_per_second:
        return None
    ratio = on.requests_per_second / off.requests_per_second
    cpu = (
        f", {on.cpu_us_per_request - off.cpu_us_per_request:+.0f} us CPU"
        if on.cpu_us_per_request is not None and off.cpu_us_per_request is not None
        else ""
    )
    met = ratio >= floor and on.errors == 0
    return Check(f"PostgreSQL {on.label}", f">= {floor} of tracing off", f"{ratio:.2f}{cpu}", met)


def evaluate(results: Results) -> None:
    if str(results.settings.get("mode", "")).startswith("search"):
        from bench.search import checks  # imported here: bench.search imports this module

        results.checks = checks(results)
        return
    from bench.replicas import checks as replica_checks  # imported here: bench.replicas imports this module

    growth_users = results.settings.get("growth_users")
    candidates = [
        ratio_check(results, "get_user", 0.6, p99_under_ms=15),
        ratio_check(results, "list_users", 0.5),
        ratio_check(results, "user_posts", 0.5),
        ratio_check(results, "list_posts", 0.5),
        ratio_check(results, "create_user", 0.4),
        ratio_check(results, "create_post", 0.4),
        ratio_check(results, "patch_user", 0.4),
        *(signed_in_check(results, scenario) for scenario in SIGNED_IN_SCENARIOS),
        *(growth_check(results, s, growth_users) for s in ("list_users_deep", "user_posts") if growth_users),
        writers_check(results),
        *(sqlite_reads_check(results, s) for s in ("get_user", "list_users", "user_posts")),
        memory_check(results.memory),
        *(flood_check(results, shape) for shape in FLOOD_SHAPES),
        tracing_check(results),
        *(
            cache_check(results, database, scenario)
            for database in ("postgresql", "sqlite")
            for scenario in CACHED_READS
        ),
        *replica_checks(results),
    ]
    results.checks = [check for check in candidates if check is not None]


# Output.


def table(results: Results) -> str:
    header = (
        f"{'target':<8} {'database':<10} {'rows':>9} {'scenario':<28} {'conns':>5} "
        f"{'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'CPU us':>7} {'raw':>5} "
        f"{'ceil.':>5} {'seed':>5}"
    )
    lines = [header, "-" * len(header)]
    for m in results.measurements:
        cpu = f"{m.cpu_us_per_request:.0f}" if m.cpu_us_per_request is not None else "-"
        lines.append(
            f"{m.target:<8} {m.database:<10} {m.users:>9,} {m.label:<28} {m.connections:>5} "
            f"{m.requests_per_second:>9,.0f} {m.p50_ms:>7.2f} {m.p99_ms:>7.2f} {m.errors:>6} "
            f"{cpu:>7} {_ratio(m.ratio):>5} {_ratio(m.vs_ceiling):>5} {_ratio(m.vs_seed):>5}"
        )
    if results.layers:
        lines += ["", "Layers under GET /users/{id} (CPU us per read, in the benchmark's process):"]
        lines += [f"  {name:<20} {figure:>7.1f}" for name, figure in results.layers.items()]
    if results.checks:
        lines += ["", "Targets:"]
        for check in results.checks:
            mark = "met   " if check.met else "MISSED"
            lines.append(f"  {mark} {check.name}: {check.value} (target {check.target})")
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def write_json(results: Results, path: Path) -> None:
    path.write_text(json.dumps(asdict(results), indent=2) + "\n")


_COLOURS = {"postgresql": "#4c72b0", "sqlite": "#55a868"}


def draw_chart(results: Results, path: Path) -> None:
    import matplotlib  # imported here: it is slow to import, and only drawing needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    search = str(results.settings.get("mode", "")).startswith("search")
    if search:
        base = list(results.measurements)
        labels = [f"{m.label} [{m.database}, {m.users:,} posts]" for m in base]
    else:
        base = [
            m for m in results.measurements if m.target == "inkwell" and m.users == results.settings["users"]
        ]
        labels = [f"{m.label} [{m.database}]" for m in base]
    figure, axes = plt.subplots(
        1, 2 if results.memory else 1, figsize=(15, 0.45 * len(labels) + 2.5), squeeze=False
    )
    bars = axes[0][0]
    bars.barh(
        labels,
        [m.requests_per_second for m in base],
        color=[_COLOURS.get(m.database, "#8172b2") for m in base],
    )
    bars.invert_yaxis()
    for target, style in (("raw", "--"), ("bare", ":")):
        ceiling = results.find(target, "postgresql", "get_user")
        if ceiling is not None:
            bars.axvline(
                ceiling.requests_per_second,
                linestyle=style,
                color="black",
                label=f"{target}: {ceiling.requests_per_second:,.0f}/s",
            )
    bars.set_xlabel("requests per second (PostgreSQL blue, SQLite green, MariaDB purple)")
    if search:
        bars.set_title(f"Search against GET /posts ({results.settings['connections']} connections)")
    else:
        bars.set_title(
            f"Inkwell against its ceilings ({results.settings['users']:,} users, "
            f"{results.settings['connections']} connections)"
        )
        bars.legend(loc="lower right")
    if results.memory:
        times, rss = zip(*results.memory["samples"], strict=True) if results.memory["samples"] else ((), ())
        memory = axes[0][1]
        memory.plot(times, rss)
        memory.set_ylim(0, max(rss, default=1) * 1.25)
        memory.set_xlabel("seconds of load")
        memory.set_ylabel("resident memory, MiB")
        memory.set_title("Server memory under mixed load")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
