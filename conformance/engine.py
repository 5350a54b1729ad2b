"""Running scenarios against a target and turning what happened into verdicts.

Each scenario runs in its own Session, then a liveness probe (a fresh GET /) checks the server
survived it. A launched server that died, or one that answered before the scenario and no longer
does, gets the crash attributed to that scenario (with its exit status and output tail) and is
restarted for the next one. Server misbehaviour never raises out of `run`; a fault of the suite
itself becomes an `error` verdict.

Time is bounded: every wait in a step is at most `response_timeout` (connects at most
`connect_timeout`), a scenario stops at its first failing wait, and the probe is skipped while
the server is not answering at all. A server that hangs on everything therefore costs about
`response_timeout` per scenario (plus `connect_timeout` per connection if it does not even
accept): about 150 s for the 71 scenarios of the catalogue at the default 2 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conformance.checks import CHECKS
from conformance.scenarios import Scenario
from conformance.session import Session, probe
from conformance.steps import DEFAULT_CONNECTION, Expect, ExpectClosed, ExpectSilence, Send, Wait
from conformance.verdicts import HarnessError, Outcome, ScenarioEnded, ScenarioFailed, Verdict

if TYPE_CHECKING:
    from conformance.target import Target

MAX_PRINTF_BYTES = 2048
EXIT_GRACE_S = 0.5


@dataclass
class Settings:
    """Timing knobs for a run; the defaults keep a good local server's run to a few seconds."""

    response_timeout: float = 2.0
    connect_timeout: float = 2.0
    pause: float = 0.05
    byte_pause: float = 0.002
    quiet_period: float = 0.2


def run(
    scenarios: Iterable[Scenario],
    target: Target,
    settings: Settings | None = None,
    on_verdict: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    """Run each scenario against a started target and return one verdict per scenario."""
    settings = settings or Settings()
    answering = _probe(target, settings) is None
    blocked: str | None = None
    verdicts = []
    for scenario in scenarios:
        if blocked is None and not target.is_running():
            blocked = _revive(target)  # Killed by a probe, not by a scenario: nobody to blame.
        if blocked is not None:
            verdict = Verdict(scenario, Outcome.ERROR, f"not run: {blocked}")
        else:
            verdict = judge(scenario, target, settings)
            answering, blocked = _check_survival(verdict, target, settings, answering)
        verdicts.append(verdict)
        if on_verdict is not None:
            on_verdict(verdict)
    return verdicts


def judge(scenario: Scenario, target: Target, settings: Settings) -> Verdict:
    """Run one scenario's steps (and check) and judge the server's behaviour."""
    session = Session(target.host, target.port, target.docroot, settings)
    verdict = Verdict(scenario, Outcome.PASS, "passed")
    started = time.monotonic()
    try:
        session.run(scenario.steps)
        if scenario.check is not None:
            CHECKS[scenario.check](session)
    except ScenarioFailed as failure:
        verdict.outcome, verdict.message = failure.outcome, failure.message
        verdict.expected, verdict.actual = failure.expected, failure.actual
    except ScenarioEnded:
        pass
    except HarnessError as error:
        verdict.outcome, verdict.message = Outcome.ERROR, f"harness error: {error}"
    except Exception as error:  # A bug in the suite must not be blamed on the server.
        verdict.outcome = Outcome.ERROR
        verdict.message = f"harness error: {type(error).__name__}: {error}"
    finally:
        session.close_all()
    if session.clients.canary_leaked and verdict.outcome is not Outcome.ERROR:
        verdict.outcome = Outcome.FAIL
        verdict.message = "the canary file outside the document root was served"
        verdict.expected = "no byte of any file outside the document root"
        verdict.actual = "a response containing the canary's text"
    verdict.message = " ".join(verdict.message.split())  # One line, whatever the source.
    verdict.duration_s = time.monotonic() - started
    verdict.transcript = session.transcript.lines
    verdict.choice = ", ".join(session.choices) or None
    if verdict.outcome is Outcome.PASS and verdict.choice:
        verdict.message = f"passed (server chose: {verdict.choice})"
    verdict.reproduction = reproduction(scenario, target.host, target.port)
    return verdict


def _probe(target: Target, settings: Settings) -> ScenarioFailed | None:
    return probe(target.host, target.port, target.docroot, settings)


def _check_survival(
    verdict: Verdict, target: Target, settings: Settings, answering: bool
) -> tuple[bool, str | None]:
    """Probe after a scenario; on a crash amend the verdict and restart the server.

    Returns whether the server answers now, and why the run cannot go on (None if it can).
    """
    running = target.is_running()
    if running and not answering:
        return False, None  # It was not answering before, so silence now is nothing new.
    failure = _probe(target, settings) if running else None
    if running and failure is None:
        return True, None
    deadline = time.monotonic() + EXIT_GRACE_S
    while target.is_running() and time.monotonic() < deadline:
        time.sleep(0.02)  # Let a dying process finish, so its exit status is in the report.
    if not target.is_running():
        cause = "the server process exited during or right after this scenario"
    else:
        assert failure is not None
        cause = f"the server stopped answering after this scenario ({failure.message})"
    if verdict.outcome in (Outcome.FAIL, Outcome.HANG):
        cause += f"; before that: {verdict.message}"
    verdict.outcome, verdict.message = Outcome.CRASH, cause
    verdict.server_output = target.crash_details()
    blocked = _revive(target)
    if blocked is not None:
        return False, blocked
    failure = _probe(target, settings)
    if failure is not None and target.is_running():
        return (
            False,
            f"the server no longer answers after {verdict.scenario.id} ({failure.message})",
        )
    return failure is None, None


def _revive(target: Target) -> str | None:
    """Restart the server; return why that failed, or None."""
    # Imported here so the engine also runs with any object shaped like a Target.
    from conformance.target import TargetError

    try:
        target.restart()
    except TargetError as error:
        return f"restarting the server failed: {error}"
    return None


def reproduction(scenario: Scenario, host: str, port: int) -> str:
    """A one-line shell command that replays the scenario's requests."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    fallback = f"h1check run --target {address} --id {scenario.id}"
    simple = (Send, Expect, ExpectClosed, ExpectSilence, Wait)
    steps = scenario.steps
    if scenario.check or not all(isinstance(step, simple) for step in steps):
        return fallback
    sends = [step for step in steps if isinstance(step, Send)]
    if not sends or any(s.bytewise or s.on != DEFAULT_CONNECTION for s in sends):
        return fallback
    if any(getattr(step, "on", DEFAULT_CONNECTION) != DEFAULT_CONNECTION for step in steps):
        return fallback
    if sum(len(s.data) for s in sends) > MAX_PRINTF_BYTES:
        return fallback
    commands = []
    for send in sends:
        for fragment in send.fragments:
            if commands:
                commands.append(f"sleep {send.pause if send.pause is not None else 0.2:g}")
            commands.append(f"printf '{printf_escape(fragment)}'")
    shell = commands[0] if len(commands) == 1 else f"({'; '.join(commands)})"
    return f"{shell} | nc {host} {port}"


def printf_escape(data: bytes) -> str:
    """Escape bytes for a single-quoted printf format string."""
    named = {
        ord("\r"): "\\r",
        ord("\n"): "\\n",
        ord("\t"): "\\t",
        ord("\\"): "\\\\",
        ord("%"): "%%",
    }
    return "".join(
        named.get(byte)
        or (chr(byte) if 0x20 <= byte < 0x7F and byte != ord("'") else f"\\{byte:03o}")
        for byte in data
    )
