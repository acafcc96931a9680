"""Reading wrk's figures, and driving a real server with it."""

import http.server
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from bench.scenarios import FLOOD_PASSWORD, flood_scenarios
from bench.servers import Server, ceiling_command, free_port, serving
from bench.wrk import (
    Load,
    WrkFailed,
    WrkMissing,
    find_wrk,
    parse_wrk_output,
    run_wrk,
    start_wrk,
    wait_for_wrk,
    wrk_command,
)

ROOT = Path(__file__).resolve().parents[2]

SAMPLE = """Running 2s test @ http://127.0.0.1:8000
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.40ms    1.20ms  30.00ms   90.00%
  12000 requests in 2.00s, 1.91MB read
Requests/sec:   6000.00
BENCH_RESULT {"requests": 12000, "duration_us": 2000000, "bytes": 2001409, \
"errors": {"connect": 0, "read": 1, "write": 0, "status": 3, "timeout": 0}, \
"latency_us": {"mean": 5400.5, "max": 30000, "p50": 5200, "p90": 6500, "p99": 9100}}
"""


def test_parse_reads_the_json_line_of_the_report_script() -> None:
    result = parse_wrk_output(SAMPLE)

    assert result.requests_per_second == 6000
    assert (result.p50_ms, result.p90_ms, result.p99_ms, result.max_ms) == (5.2, 6.5, 9.1, 30)
    assert result.error_count == 4


def test_output_without_the_report_line_is_an_error() -> None:
    with pytest.raises(WrkFailed, match="BENCH_RESULT"):
        parse_wrk_output("Running 2s test @ http://127.0.0.1:8000\nRequests/sec: 10\n")


def test_a_missing_wrk_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(WrkMissing, match="apt-get install -y wrk"):
        find_wrk()


def test_the_command_passes_the_load_the_script_and_its_arguments() -> None:
    load = Load(threads=2, connections=64, seconds=2.4)

    command = wrk_command("wrk", "http://h:1", "get.lua", ["/users/%d", "1", "9"], load, {"X-A": "b"})

    assert command[:4] == ["wrk", "--threads=2", "--connections=64", "--duration=2s"]
    assert command[-6:] == ["--header=X-A: b", "http://h:1", "--", "/users/%d", "1", "9"]
    assert any(part.endswith("bench/wrk/get.lua") for part in command)


@pytest.fixture
def bare_server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    env = {"PYTHONPATH": str(ROOT)}
    with serving(
        "bare", ceiling_command("bare", port), port, env=env, probe="/users/1", cwd=tmp_path
    ) as server:
        yield server


@pytest.mark.slow
def test_wrk_drives_a_real_server_through_each_script(bare_server: Server) -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk); .ci/run installs it")
    load = Load(threads=1, connections=4, seconds=1)
    # The bare ceiling answers GET /users/{id} and nothing else: the other scripts' requests are 404s.
    get = run_wrk(wrk_command(find_wrk(), bare_server.url, "get.lua", ["/users/%d", "1", "100"], load))
    post = run_wrk(wrk_command(find_wrk(), bare_server.url, "create_user.lua", ["tag"], load))
    sign_up = run_wrk(
        wrk_command(find_wrk(), bare_server.url, "create_user.lua", ["tag", "a password"], load)
    )
    search = run_wrk(
        wrk_command(find_wrk(), bare_server.url, "search_band.lua", ["/posts", "kalo+kami"], load)
    )

    assert get.requests > 0
    assert get.error_count == 0
    assert post.requests > 0
    assert post.errors["status"] == post.requests
    assert sign_up.requests > 0
    assert search.requests > 0
    assert search.errors["status"] == search.requests


def test_a_server_that_cannot_start_is_reported(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-c", "import sys; print('no such app'); sys.exit(3)"]

    with (
        pytest.raises(RuntimeError, match="no such app"),
        serving("broken", command, port, env={}, probe="/", cwd=tmp_path),
    ):
        pass


def test_wrk_failing_is_reported() -> None:
    with pytest.raises(WrkFailed, match="exited"):
        run_wrk([sys.executable, "-c", "import sys; sys.exit(1)"])


def test_wrk_in_the_background_gives_its_figures_when_waited_for() -> None:
    process = start_wrk([sys.executable, "-c", f"print({SAMPLE!r})"])

    assert wait_for_wrk(process).requests == 12000


def test_each_shape_of_the_flood_signs_up_with_a_password_and_reads_the_first_page_of_posts() -> None:
    alone, floods = flood_scenarios()

    assert [flood.shape for flood in floods] == ["one", "spread"]
    for flood in floods:
        assert alone.args == flood.reads.args == ("/posts", "1", "1")
        assert flood.sign_ups.script == "create_user.lua"
        assert flood.sign_ups.args == ("{tag}", FLOOD_PASSWORD, flood.shape)
    assert len(FLOOD_PASSWORD) >= 8


class ForwardedFor(http.server.BaseHTTPRequestHandler):
    """Answers every POST with 201 and keeps the X-Forwarded-For it came with."""

    seen: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(self.headers.get("X-Forwarded-For"))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[str]:
    ForwardedFor.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ForwardedFor)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
@pytest.mark.parametrize("shape", ["one", "spread"])
def test_the_spread_flood_sends_each_sign_up_from_an_address_of_its_own(
    recording_server: str, shape: str
) -> None:
    load = Load(threads=2, connections=4, seconds=1)
    run_wrk(wrk_command(find_wrk(), recording_server, "create_user.lua", ["tag", "pw", shape], load))

    seen = ForwardedFor.seen
    assert len(seen) > 10
    if shape == "one":
        assert set(seen) == {None}
    else:
        assert all(address is not None and address.startswith("10.") for address in seen)
        assert len(set(seen)) == len(seen)
