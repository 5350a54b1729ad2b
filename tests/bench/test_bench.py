"""The benchmark harness's pieces, checked without timing anything.

Nothing here asserts a speed: the numbers are the harness's output, not its correctness.
What is checked is that wrk's report is read right, that the tables have the shape Markdown
needs, that the recipes start servers that answer, and that both load paths complete the
requests they are asked for.
"""

from __future__ import annotations

import http.client
import io
import json
from pathlib import Path

import pytest

from bench import report, wsgi_static
from bench.idle import IdleResult, LevelResult, measure_idle
from bench.load import LoadError, LoadSpec, Measurement, parse_wrk_output, run_python_load
from bench.servers import BENCH_FILES, RECIPES, RunningServer, launch
from bench.workloads import WORKLOADS, measure, server_cost

WRK_KEEP_ALIVE = """\
Running 5s test @ http://127.0.0.1:40123/index.html
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms  310.25us   9.87ms   91.20%
    Req/Sec    33.12k     1.05k   35.40k    72.00%
  Latency Distribution
     50%    1.48ms
     75%    1.60ms
     90%    1.75ms
     99%    2.91ms
  164812 requests in 5.00s, 460.71MB read
Requests/sec:  32960.12
Transfer/sec:     92.13MB
"""

WRK_WITH_ERRORS = """\
Running 1m test @ http://127.0.0.1:40123/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   750.00us    1.20ms   1.20s    99.00%
    Req/Sec     4.10k   300.00     4.50k    70.00%
  Latency Distribution
     50%  650.00us
     75%  700.00us
     90%  800.00us
     99%    1.10s
  245000 requests in 1.00m, 1.50GB read
  Socket errors: connect 3, read 10, write 0, timeout 7
  Non-2xx or 3xx responses: 5
Requests/sec:   4083.33
Transfer/sec:     25.60MB
"""


def test_wrk_report_is_read_with_its_units():
    measured = parse_wrk_output(WRK_KEEP_ALIVE, client_cpu=0.4)
    assert measured.requests == 164812
    assert measured.seconds == pytest.approx(5.0)
    assert measured.bytes_read == round(460.71 * 2**20)
    assert measured.errors == 0
    assert measured.latency_p50_ms == pytest.approx(1.48)
    assert measured.latency_p99_ms == pytest.approx(2.91)
    assert measured.requests_per_s == pytest.approx(164812 / 5.0)
    assert (measured.client_cpu, measured.tool) == (0.4, "wrk")


def test_wrk_errors_minutes_and_gigabytes_are_read():
    measured = parse_wrk_output(WRK_WITH_ERRORS)
    assert measured.seconds == pytest.approx(60.0)
    assert measured.bytes_read == round(1.5 * 2**30)
    # Socket errors (3 + 10 + 0 + 7) and non-2xx/3xx responses all count.
    assert measured.errors == 25
    assert measured.latency_p50_ms == pytest.approx(0.65)
    assert measured.latency_p99_ms == pytest.approx(1100.0)


def test_wrk_output_without_totals_is_refused():
    with pytest.raises(LoadError, match="no totals"):
        parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def sample(requests_per_s: float, *, client_cpu: float = 0.3, errors: int = 0) -> Measurement:
    """A one-second measurement of `requests_per_s` small responses."""
    requests = int(requests_per_s)
    return Measurement(requests, 1.0, requests * 3000, errors, 1.0, 2.0, client_cpu, "wrk")


def three_server_results() -> report.Results:
    results = report.Results(
        ["epoll", "nginx-1", "http.server"], ["small-c1", "1m", "idle"], "wrk", 5.0, rounds=3
    )
    results.samples[("nginx-1", "small-c1")] = [sample(10_000), sample(12_000), sample(11_000)]
    results.samples[("epoll", "small-c1")] = [sample(8_000), sample(9_900), sample(8_800)]
    results.samples[("http.server", "small-c1")] = [sample(500, client_cpu=0.95, errors=50)]
    results.idle["epoll"] = IdleResult(
        [LevelResult(1000, 1000, 1.5, 2048.0), LevelResult(10_000, 9_000, None, 2100.0, "x")]
    )
    return results


def test_medians_and_ratios_to_nginx_with_as_many_workers():
    results = three_server_results()
    assert results.median("epoll", "small-c1") == 8_800
    assert results.ratio("epoll", "small-c1", "nginx-1") == pytest.approx(0.8)
    assert results.median("epoll", "1m") is None
    assert results.nginx_for("epoll-2") == "nginx-2"


def table_cells(markdown: str) -> list[list[str]]:
    """The cells of each row of a Markdown table."""
    return [line.strip("|").split("|") for line in markdown.splitlines()]


def test_markdown_tables_have_one_cell_per_heading_in_every_row():
    results = three_server_results()
    for table in (
        report.throughput_table(results),
        report.idle_table(results),
        report.targets_table(results),
        report.details_table(results),
    ):
        rows = table_cells(table.markdown())
        assert len(rows) == len(table.rows) + 2
        assert {len(row) for row in rows} == {len(table.headings)}
        assert {cell.strip() for cell in rows[1]} <= {"---", "--:"}


def test_throughput_cells_show_median_ratio_and_marks():
    table = report.throughput_table(three_server_results())
    by_server = {row[0]: row for row in table.rows}
    assert table.headings == ["server", "small-c1 (rps)", "1m (MiB/s)"]
    assert by_server["nginx-1"][1] == "11,000 (1.00x)"
    assert by_server["epoll"][1] == "8,800 (0.80x)"
    assert by_server["epoll"][2] == "—"
    # Client-bound, and 50 errors in 550 requests: a lower bound, marked.
    assert by_server["http.server"][1] == "≥500* (0.05x)"


def test_targets_table_says_which_are_met():
    rows = {row[0]: row[1:] for row in report.targets_table(three_server_results()).rows}
    assert rows["epoll ≥ 0.8x nginx-1 on small-c1"] == ["0.80x", "yes"]
    assert rows[
        "epoll ≥ 20x http.server on small-c1, small-c50, small-close (worst: small-c1)"
    ] == ["17.60x", "no"]
    assert rows["epoll holds 10k idle connections"] == ["1k", "no"]


def test_whole_markdown_report_names_the_command_and_machine():
    results = three_server_results()
    results.command = "python -m bench --rounds 3"
    results.machine = {"date": "2030-01-01 00:00 UTC", "machine": "2 cores (Test CPU)"}
    document = report.markdown(results)
    assert "`python -m bench --rounds 3`" in document
    assert "2 cores (Test CPU)" in document
    assert "## Idle connections" in document and "## Targets" in document


def test_every_recipe_that_compares_has_a_registered_counterpart():
    for recipe in RECIPES.values():
        assert not recipe.counterpart or RECIPES[recipe.counterpart].family == "gunicorn"
    assert {f"nginx-{recipe.workers}" for recipe in RECIPES.values()} <= set(RECIPES)


def get(server: RunningServer, path: str) -> tuple[int, bytes]:
    """One GET on a fresh connection."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("name", ["epoll", "http.server"])
def test_recipe_starts_and_answers_a_get(name: str):
    server = launch(name, nofile=1024)
    try:
        status, body = get(server, "/bench-16k.bin")
        assert (status, len(body)) == (200, BENCH_FILES["bench-16k.bin"])
        assert server.memory() > 0
    finally:
        server.stop()
    assert not server.workdir.exists()


@pytest.fixture(scope="module")
def epoll_server():
    server = launch("epoll", nofile=1024)
    yield server
    server.stop()


@pytest.mark.parametrize("close", [False, True], ids=["keep-alive", "close"])
def test_python_load_completes_the_requests_asked_for(epoll_server: RunningServer, close: bool):
    spec = LoadSpec(epoll_server.host, epoll_server.port, "/index.html", 4, 30.0, close)
    measured = run_python_load(spec, requests=200)
    assert (measured.requests, measured.errors) == (200, 0)
    index_size = (epoll_server.workdir / "html" / "index.html").stat().st_size
    assert measured.bytes_read > 200 * index_size
    assert measured.tool == "python"


def test_a_measurement_records_the_servers_cpu(epoll_server: RunningServer):
    workload = WORKLOADS["small-c1"]
    measured = measure(workload, epoll_server, 0.3, "python")
    assert measured.requests > 0
    assert measured.server_cpu_s is not None and measured.server_cpu_s > 0
    cost = server_cost(workload, measured)
    assert cost is not None and cost > 0


def test_idle_connections_are_held_and_counted(epoll_server: RunningServer):
    idle = measure_idle(epoll_server, levels=(20,))
    assert [(level.level, level.held) for level in idle.levels] == [(20, 20)]
    assert idle.levels[0].fresh_ms is not None


def test_workloads_ask_for_files_every_server_has():
    served = {"/index.html", *(f"/{name}" for name in BENCH_FILES)}
    assert {workload.path for workload in WORKLOADS.values()} <= served


def call_app(path: str, method: str = "GET") -> tuple[str, dict[str, str], bytes]:
    """Run the WSGI app on one request without a server."""
    answer: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer.update(status=status, headers=dict(headers))

    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.errors": io.StringIO()}
    body = b"".join(wsgi_static.app(environ, start_response))
    return str(answer["status"]), answer["headers"], body  # type: ignore[return-value]


def test_wsgi_app_serves_files_under_its_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "html" / "sub").mkdir(parents=True)
    (tmp_path / "html" / "sub" / "index.html").write_bytes(b"<p>hi</p>")
    (tmp_path / "secret.txt").write_text("outside")
    monkeypatch.setattr(wsgi_static, "ROOT", str(tmp_path / "html"))
    status, headers, body = call_app("/sub/")
    assert (status, body) == ("200 OK", b"<p>hi</p>")
    assert headers == {"Content-Type": "text/html", "Content-Length": "9"}
    assert call_app("/../secret.txt")[0] == "404 Not Found"
    assert call_app("/missing")[0] == "404 Not Found"
    assert call_app("/sub/", "POST")[0] == "405 Method Not Allowed"


def test_json_round_trip_keeps_every_sample_and_idle_level():
    results = three_server_results()
    again = report.from_json(json.loads(json.dumps(report.to_json(results))))
    assert again == results
