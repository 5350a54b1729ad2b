"""Running scenarios against a target and turning what happened into verdicts.

Each scenario runs in its own Session; then the engine asks whether the server is still there,
and charges a crash to its cause. That takes care, because asking is itself an exchange: the
liveness probe (a fresh GET /) ends with the client closing, and a classic course bug kills the
server exactly when a client closes. So the engine tells three moments apart:

1. The scenario's steps. A launched server found dead when they end (given a moment to exit
   when a connection ended abruptly) crashed on the scenario, which is charged with the crash,
   its exit status and the server's output.
2. The clients closing. When the scenario ends, its clients close the connections the server
   still held; a server that dies then (or once the probe has closed its own connection) has the
   "client-close" defect. That is charged once, to the scenario owning the rule (audits.py);
   every other scenario keeps its own verdict, with a note that the server was restarted.
3. Anything else: a server that stops answering after a scenario that closed nothing of its own
   is charged to that scenario.

A launched server is restarted for the next scenario. One h1check did not start cannot be, so
once it is gone the remaining scenarios are `blocked`, with the reason; so are they when a
restart fails. After the last scenario, the run-wide rules' findings are charged to their owners
(`settle`), so a defect seen in many responses is counted in one place.

Time is bounded: every wait in a step is at most `response_timeout` (connects at most
`connect_timeout`), a scenario stops at its first failing wait, and a response missing at the
timeout is awaited once as long again only to say how late it is. While the server answers
nothing at all, probes and that extra wait are skipped, so a server that hangs on everything costs
about `response_timeout` per scenario: about 150 s for the catalogue at the default 2 s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from conformance.audits import EXPECTATIONS, NOTHING_TO_CHECK, Finding, Ledger
from conformance.checks import CHECKS
from conformance.clients import REFUSED
from conformance.docroot import CANARY_TEXT
from conformance.properties.laws import PropertyFailed, check_property
from conformance.scenarios import Scenario
from conformance.session import Session, probe
from conformance.settings import Settings
from conformance.target import Target, TargetError
from conformance.verdicts import (
    HarnessError,
    Outcome,
    ScenarioEnded,
    ScenarioFailed,
    ScenarioSkipped,
    Verdict,
)

EXIT_GRACE_S = 0.5
MAX_LISTED_FINDINGS = 8
FIRST_PROBE = "h1check's first liveness probe"


def run(
    scenarios: Iterable[Scenario],
    target: Target,
    settings: Settings | None = None,
    on_verdict: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    """Run each scenario against a started target and return one verdict per scenario."""
    scenarios = list(scenarios)
    runner = Runner(target, settings or Settings(), scenarios)
    verdicts = []
    for scenario in scenarios:
        verdict = runner.judge(scenario)
        verdicts.append(verdict)
        if on_verdict is not None:
            on_verdict(verdict)
    runner.finish()
    settle(verdicts, runner.ledger)
    return verdicts


class Runner:
    """Judges scenarios one after another against one target, keeping the server alive."""

    def __init__(self, target: Target, settings: Settings, scenarios: Iterable[Scenario]) -> None:
        self.target, self.settings = target, settings
        self.ledger = Ledger({s.owns: s.id for s in scenarios if s.owns is not None})
        self.gone: str | None = None
        self.previous: Verdict | None = None
        # The property layer's record of the server's plain answers; a restart forgets it.
        self.plain_forms: dict = {}
        # The latest moment a client closed a connection the server still held open: the one
        # thing a server that dies without any request to blame can be charged with.
        self.last_close: str | None = None
        if not target.restartable:
            # Starting it, h1check sent one GET / and closed: the last close before this probe.
            self.last_close = "after h1check's first GET / closed its connection"
        failure = self._probe()
        self.answering = failure is None
        exited = self._exited(wait=failure is not None)
        if exited or _refused(failure):
            self._server_died(None, _death(exited, failure))

    def judge(self, scenario: Scenario) -> Verdict:
        """Run one scenario, then make sure the server is there for the next one."""
        started = time.monotonic()
        self.finish()
        replanted = self._replant_canary()
        if self.gone is None:
            verdict, session = self._run_steps(scenario)
            if _refused_at_once(verdict, session):
                # Nothing of this scenario reached the server: whatever killed it came before.
                self._died_between_scenarios(_death(self._exited(wait=True), None))
                if self.gone is None:
                    verdict, session = self._run_steps(scenario)
        if self.gone is not None:
            return Verdict(scenario, Outcome.BLOCKED, f"not run: {self.gone}")
        wait = verdict.outcome is Outcome.CRASH or session.abrupt_end
        died = self._exited(wait=wait or session.died_at_client_close)
        session.close_all()
        if died and session.died_at_client_close:
            self.last_close = "when a property scenario's client closed a connection it held open"
            self._server_died(verdict, "exited")
        elif died:
            self._charge_crash(verdict, "the server process exited during this scenario")
        else:
            self.last_close = (
                "when this scenario's client closed a connection the server held open"
                if session.clients.client_initiated_closes
                else None
            )
            self._check_after(verdict)
        finish_verdict(verdict, session)
        if replanted:
            verdict.notes.append(replanted)
        verdict.duration_s = time.monotonic() - started
        self.previous = verdict
        return verdict

    def _replant_canary(self) -> str | None:
        """Put back a canary that is gone, so traversal is still caught; say so, or None.

        The canary beside the document root is how a scenario sees a file outside the root being
        served. A server that deletes it (by accident, or to hide a traversal bug) would
        otherwise pass every security scenario after that.
        """
        canary = self.target.canary
        if canary is None or canary.exists():
            return None
        canary.write_text(CANARY_TEXT, encoding="ascii")
        return (
            f"the canary file {canary.name} beside the document root was gone; h1check put it back"
        )

    def _run_steps(self, scenario: Scenario) -> tuple[Verdict, Session]:
        session = Session(
            self.target.host,
            self.target.port,
            self.target.docroot,
            self.settings,
            scenario_id=scenario.id,
            ledger=self.ledger,
            late_window=self.settings.response_timeout if self.answering else 0.0,
            plain_forms=self.plain_forms,
        )
        return judge_steps(scenario, session), session

    def finish(self) -> None:
        """Notice a server that died since the last look (a probe's close), and restart it."""
        if self.gone is None and not self.target.is_running():
            self._server_died(self.previous, "exited")

    def _check_after(self, verdict: Verdict) -> None:
        """Probe once the scenario's connections are closed, and name the cause of a death."""
        if not self.answering:
            return  # It answered nothing before this scenario: silence now is nothing new.
        failure = self._probe()
        if failure is None:
            return
        exited = self._exited(wait=True)
        unanswered = failure.outcome is Outcome.CRASH  # Refused, or closed without an answer.
        if exited or _refused(failure) or (unanswered and self.last_close is not None):
            self._server_died(verdict, _death(exited, failure))
        else:
            self.answering = False
            self._charge_crash(
                verdict, f"the server stopped answering after this scenario ({failure.message})"
            )

    def _died_between_scenarios(self, death: str) -> None:
        """A server that answered the probe after the last scenario is gone before the next."""
        if self.last_close is not None or self.previous is None:
            self._server_died(self.previous, death)
            return
        outcome = self._bring_back()
        self.previous.notes.append(
            f"after this scenario and h1check's probe, the server {death} with no client closing"
            f" a connection on it; {outcome}"
        )

    def _server_died(self, verdict: Verdict | None, death: str) -> None:
        """Charge a death noticed after `verdict`'s scenario (None: before the first one);
        `death` says what was seen ("exited", "stopped accepting connections", ...)."""
        if self.last_close is not None:
            scenario = verdict.scenario.id if verdict is not None else FIRST_PROBE
            problem = f"the server {death} {self.last_close} ({scenario})"
            self.ledger.record("client-close", scenario, problem)
            self.last_close = None
            if verdict is None:
                self._bring_back()
                return
            verdict.server_output = verdict.server_output or self.target.crash_details()
            verdict.notes.append(f"{problem}; {self._bring_back()}")
        elif verdict is None:
            self._bring_back()  # It died on the first GET /: the scenarios will show that.
        else:
            self._charge_crash(verdict, f"the server {death} right after this scenario")

    def _charge_crash(self, verdict: Verdict, cause: str) -> None:
        if verdict.outcome is Outcome.CRASH:
            cause += f" ({verdict.message})"
        elif verdict.outcome in (Outcome.FAIL, Outcome.HANG):
            cause += f"; before that: {verdict.message}"
        verdict.outcome, verdict.message = Outcome.CRASH, cause
        verdict.server_output = self.target.crash_details()
        verdict.notes.append(self._bring_back())

    def _bring_back(self) -> str:
        """Restart the server, or say why the rest of the run cannot go on; returns what happened."""
        self.last_close = None
        self.plain_forms.clear()
        if not self.target.restartable:
            self.gone = (
                f"the server at {self.target.description} is gone, and h1check cannot restart"
                " a server it did not start"
            )
            return "h1check cannot restart a server it did not start, so the rest was not run"
        try:
            self.target.restart()
        except TargetError as error:
            self.gone = f"the server could not be restarted: {error}"
            return f"restarting it failed ({error}), so the rest was not run"
        self.answering = True
        return "h1check restarted it for the next scenario"

    def _exited(self, wait: bool) -> bool:
        """Whether a launched server has exited; with `wait`, give a dying one a moment to go."""
        deadline = time.monotonic() + (EXIT_GRACE_S if wait else 0.0)
        while self.target.is_running():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _probe(self) -> ScenarioFailed | None:
        """A fresh GET /; remembers its close when the server left that to the client."""
        failure, closed_open_connection = probe(
            self.target.host, self.target.port, self.target.docroot, self.settings
        )
        if failure is None and closed_open_connection:
            self.last_close = "after h1check's liveness probe closed its connection"
        # A probe answered without closing anything does not clear an earlier close: a server
        # dying of it may still answer one more request from its accept queue first.
        return failure


def _refused_at_once(verdict: Verdict, session: Session) -> bool:
    """Whether the scenario's very first connection was refused."""
    return verdict.actual == REFUSED and not session.clients.opened


def _death(exited: bool, failure: ScenarioFailed | None) -> str:
    """What a server that is gone was seen to do, in words."""
    if exited:
        return "exited"
    if failure is None or _refused(failure):
        return "stopped accepting connections"
    return "stopped answering"


def _refused(failure: ScenarioFailed | None) -> bool:
    """Whether a probe found nothing accepting connections."""
    return failure is not None and failure.actual == REFUSED


def judge_steps(scenario: Scenario, session: Session) -> Verdict:
    """Run one scenario's steps (and check) and judge what the server did."""
    verdict = Verdict(scenario, Outcome.PASS, "passed")
    try:
        session.run(scenario.steps)
        if scenario.check is not None:
            CHECKS[scenario.check](session)
        if scenario.property is not None:
            check_property(scenario.property, session)
    except ScenarioFailed as failure:
        verdict.outcome, verdict.message = failure.outcome, failure.message
        verdict.expected, verdict.actual = failure.expected, failure.actual
        if isinstance(failure, PropertyFailed):
            verdict.replay = failure.replay
    except ScenarioSkipped as skipped:
        verdict.outcome, verdict.message = Outcome.SKIP, f"not judged: {skipped}"
    except ScenarioEnded:
        pass
    except HarnessError as error:
        verdict.outcome, verdict.message = Outcome.ERROR, f"harness error: {error}"
    except Exception as error:  # A bug in the suite must not be blamed on the server.
        verdict.outcome = Outcome.ERROR
        verdict.message = f"harness error: {type(error).__name__}: {error}"
    return verdict


def finish_verdict(verdict: Verdict, session: Session) -> None:
    """Fill in what a verdict carries once its connections are closed."""
    if session.clients.canary_leaked and verdict.outcome is not Outcome.ERROR:
        verdict.outcome = Outcome.FAIL
        verdict.message = "the canary file outside the document root was served"
        verdict.expected = "no byte of any file outside the document root"
        verdict.actual = "a response containing the canary's text"
    verdict.message = " ".join(verdict.message.split())  # One line, whatever the source.
    verdict.transcript = session.transcript.lines
    verdict.choice = ", ".join(session.choices) or None
    if verdict.outcome is Outcome.PASS and verdict.choice:
        verdict.message = f"passed (server chose: {verdict.choice})"


def settle(verdicts: list[Verdict], ledger: Ledger) -> None:
    """Charge each run-wide rule's findings once: to its owner, else to where it was first met.

    An owner with nothing to judge in the whole run (no Date header to check the format of, no 206
    to check Content-Range on) is skipped rather than passed.
    """
    by_id = {verdict.scenario.id: verdict for verdict in verdicts}
    for verdict in verdicts:
        rule = verdict.scenario.owns or ""
        judged_nothing = rule in NOTHING_TO_CHECK and not ledger.judged[rule]
        if judged_nothing and verdict.outcome is Outcome.PASS:
            verdict.outcome = Outcome.SKIP
            verdict.message = f"nothing to check in this run: {NOTHING_TO_CHECK[rule]}"
    for rule, findings in ledger.findings.items():
        owner = by_id.get(ledger.owners.get(rule, ""))
        met = [by_id[f.scenario] for f in findings if f.scenario in by_id]
        charged = owner or (met[0] if met else None)
        if charged is None:
            continue
        _charge(charged, rule, findings, owned=owner is not None)
        for finding in findings:
            elsewhere = by_id.get(finding.scenario)
            if elsewhere is None or elsewhere is charged:
                continue
            if not any(note.startswith(finding.problem) for note in elsewhere.notes):
                elsewhere.charged_elsewhere.append(f"{finding.problem} ({charged.scenario.id})")


def _charge(verdict: Verdict, rule: str, findings: list[Finding], owned: bool) -> None:
    problems = list(dict.fromkeys(f"{f.scenario}: {f.problem}" for f in findings))
    elsewhere = [
        f"{f.scenario}: {f.problem}" for f in findings if f.scenario != verdict.scenario.id
    ]
    if verdict.outcome in (Outcome.PASS, Outcome.SKIP, Outcome.BLOCKED):
        verdict.outcome = Outcome.CRASH if rule == "client-close" else Outcome.FAIL
        more = len(problems) - 1
        verdict.message = findings[0].problem + (f" (and {more} more)" if more else "")
        if not owned:
            verdict.message += " (charged here: the scenario that owns this rule is not in the run)"
        verdict.expected = EXPECTATIONS[rule]
        verdict.actual = findings[0].problem
    elsewhere = list(dict.fromkeys(elsewhere))
    listed = elsewhere[:MAX_LISTED_FINDINGS]
    if len(elsewhere) > len(listed):
        listed.append(f"... and {len(elsewhere) - len(listed)} more")
    verdict.notes += [f"seen in {problem}" for problem in listed]
