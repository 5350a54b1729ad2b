"""pytest plugin: with a server named, every scenario becomes a test item named by its id.

`pytest --h1-server-cmd "python server.py --port {port}"` (or `--h1-target HOST:PORT`, or
`--h1-reference BACKEND`) adds one item per scenario, marked with its category and level, so
`-k keep-alive`, `-m must` and `--junitxml` work as usual. The first scenario item starts the
server and runs every selected scenario as one run, exactly as `h1check run` does (so crashes are
charged to their cause and run-wide rules to their owners); each item then reports its own
verdict. The server stops when the session ends. A failure at a deciding level (MUST, POLICY)
fails its item; a SHOULD (without --h1-strict) or MAY failure is reported as xfail; a skipped
scenario is a pytest skip. With no server named the plugin does nothing at all.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable, Generator
from typing import Any

import pytest
from _pytest._code.code import TerminalRepr, TracebackStyle

from conformance.cli import host_port
from conformance.engine import run
from conformance.report.terminal import explain
from conformance.reproduce import Reproducer
from conformance.scenarios import CATEGORIES, LEVELS, Scenario, load_catalogue
from conformance.settings import Settings
from conformance.target import LaunchedTarget, ReferenceTarget, RunningTarget, Target, TargetError
from conformance.verdicts import Outcome, Verdict, deciding_failures

PLUGIN_NAME = "h1check-session"
SERVER_OPTIONS = ("h1_server_cmd", "h1_target", "h1_reference")


def pytest_addoption(parser: pytest.Parser) -> None:
    """Register the --h1-* options."""
    group = parser.getgroup("h1check", "HTTP/1.1 conformance scenarios (h1check)")
    group.addoption(
        "--h1-server-cmd",
        metavar="COMMAND",
        help='launch this server, e.g. "python server.py --port {port}"',
    )
    group.addoption("--h1-port", type=int, metavar="N", help="port the launched server uses")
    group.addoption("--h1-target", metavar="HOST:PORT", help="check a server already running")
    group.addoption("--h1-reference", metavar="BACKEND", help="check the bundled reference server")
    group.addoption("--h1-timeout", type=float, metavar="S", help="seconds to wait per response")
    group.addoption("--h1-strict", action="store_true", help="SHOULD failures fail their items")


def pytest_configure(config: pytest.Config) -> None:
    """Activate the scenario items only when a server was named."""
    named = [name for name in SERVER_OPTIONS if config.getoption(name)]
    if not named:
        return
    if len(named) > 1:
        raise pytest.UsageError("name one server: --h1-server-cmd, --h1-target or --h1-reference")
    for category in CATEGORIES:
        config.addinivalue_line("markers", f"{category}: h1check scenarios of that category")
    for level in LEVELS:
        config.addinivalue_line("markers", f"{level.lower()}: h1check scenarios of level {level}")
    timeout = config.getoption("h1_timeout")
    settings = Settings() if timeout is None else Settings(response_timeout=timeout)
    make_target = target_factory(config, settings)
    session = ScenarioSession(make_target, settings, config.getoption("h1_strict"))
    session.reproduce = reproducer(config)
    config.pluginmanager.register(session, PLUGIN_NAME)


def target_factory(config: pytest.Config, settings: Settings) -> Callable[[], Target]:
    """A function building the target the options name (built lazily, started on first use)."""
    command = config.getoption("h1_server_cmd")
    port = config.getoption("h1_port")
    if command:
        return lambda: LaunchedTarget(shlex.split(command), port=port)
    reference = config.getoption("h1_reference")
    if reference:
        return lambda: ReferenceTarget(reference, port=port)
    try:
        host, target_port = host_port(config.getoption("h1_target"))
    except argparse.ArgumentTypeError as error:
        raise pytest.UsageError(f"--h1-target: {error}") from None
    return lambda: RunningTarget(host, target_port, probe_timeout=settings.response_timeout)


def reproducer(config: pytest.Config) -> Reproducer:
    """How to run one scenario against the same server with `h1check run`, outside pytest."""
    words = ["h1check", "run"]
    if config.getoption("h1_timeout") is not None:
        words += ["--timeout", f"{config.getoption('h1_timeout'):g}"]
    if config.getoption("h1_target"):
        return Reproducer([*words, "--target", config.getoption("h1_target")])
    if config.getoption("h1_reference"):
        return Reproducer([*words, "--reference", config.getoption("h1_reference")])
    if config.getoption("h1_port"):
        words += ["--port", str(config.getoption("h1_port"))]
    return Reproducer(words, shlex.split(config.getoption("h1_server_cmd")))


def in_plugin_terms(message: str) -> str:
    """A suite message with the command line's flags named as this plugin's (--port: --h1-port)."""
    return re.sub(r"--(port|timeout)\b", r"--h1-\1", message)


class ScenarioSession:
    """Owns the server for the whole test session and judges one scenario per item."""

    def __init__(self, make_target: Callable[[], Target], settings: Settings, strict: bool) -> None:
        self.make_target = make_target
        self.settings = settings
        self.strict = strict
        self.target: Target | None = None
        self.verdicts: dict[str, Verdict] = {}
        self.reproduce = Reproducer(["h1check", "run"])

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        """Add the scenarios' collector beside whatever the session collects from disk."""
        report = yield
        if isinstance(collector, pytest.Session) and report.passed:
            report.result.append(
                ScenarioCollector.from_parent(collector, name="h1check", nodeid="h1check")
            )
        return report

    def judge(self, scenario: Scenario, selected: list[Scenario]) -> Verdict:
        """The verdict on `scenario`; the first call runs every `selected` scenario at once."""
        if self.target is None:
            target = self.make_target()
            try:
                target.start()
            except TargetError as error:
                message = in_plugin_terms(str(error))
                pytest.exit(f"h1check: {message}", returncode=pytest.ExitCode.USAGE_ERROR)
            self.target = target
            verdicts = run(selected, self.target, self.settings)
            for verdict in verdicts:
                verdict.reproduction = self.reproduce(verdict.scenario)
            self.verdicts = {verdict.scenario.id: verdict for verdict in verdicts}
        return self.verdicts[scenario.id]

    def pytest_sessionfinish(self) -> None:
        """Stop the server if a scenario started it."""
        if self.target is not None:
            self.target.stop()
            self.target = None


def scenario_session(config: pytest.Config) -> ScenarioSession:
    """The plugin's session object, registered when a server was named."""
    session = config.pluginmanager.get_plugin(PLUGIN_NAME)
    assert isinstance(session, ScenarioSession), "scenario items exist only with a server named"
    return session


class ScenarioCollector(pytest.Collector):
    """Collects one item per catalogue scenario, in catalogue order."""

    def collect(self) -> list[pytest.Item]:
        """One item per scenario, named by its id."""
        return [
            ScenarioItem.from_parent(self, name=scenario.id, scenario=scenario)
            for scenario in load_catalogue()
        ]


class DecidingFailure(Exception):
    """A deciding scenario did not pass; carries the verdict for the report."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


class ScenarioItem(pytest.Item):
    """One scenario as a test: pass, fail (deciding), xfail (not deciding) or skip."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.add_marker(scenario.category)
        self.add_marker(scenario.level.lower())

    def runtest(self) -> None:
        """Judge the scenario and turn its verdict into a pytest outcome."""
        session = scenario_session(self.config)
        selected = [item.scenario for item in self.session.items if isinstance(item, ScenarioItem)]
        verdict = session.judge(self.scenario, selected)
        self.user_properties += [("outcome", str(verdict.outcome)), ("rfc", self.scenario.rfc)]
        if verdict.outcome is Outcome.PASS:
            return
        if verdict.outcome is Outcome.SKIP:
            pytest.skip(verdict.message)
        if deciding_failures([verdict], session.strict):
            raise DecidingFailure(verdict)
        pytest.xfail(f"{self.scenario.level} ({verdict.outcome}): {verdict.message}")

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: TracebackStyle | None = None,
    ) -> str | TerminalRepr:
        """Explain a failed scenario the way `h1check run --verbose` does."""
        if isinstance(excinfo.value, DecidingFailure):
            strict = scenario_session(self.config).strict
            return explain(excinfo.value.verdict, deciding=True, strict=strict)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[str, None, str]:
        """Where the scenario comes from, for pytest's headers."""
        scenario = self.scenario
        return f"catalogue/{scenario.category}.toml", None, f"{scenario.id} [{scenario.level}]"
