"""Interpreting one scenario's steps against a live server, and judging what comes back.

A Session runs the steps of one scenario over its named client connections (see clients.py),
keeps the transcript, and records the choices the server made where a scenario accepts
alternatives. A step that finds the server at fault raises ScenarioFailed with the outcome
(fail, hang or crash) and an Expected/Actual explanation; a step that meets an allowed end of
the conversation raises ScenarioEnded. Checks (checks.py) drive a Session through `run_step`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from conformance.audits import Ledger
from conformance.clients import ClientConnection, Clients
from conformance.oracle import (
    ClosedBeforeResponse,
    FramingError,
    LateResponse,
    ReadResponse,
    ResponseTimeout,
    describe_response,
    describe_spec,
    judge_response,
)
from conformance.settings import Settings
from conformance.steps import (
    DEFAULT_CONNECTION,
    CheckAlive,
    Close,
    Connect,
    Expect,
    ExpectClosed,
    ExpectSilence,
    HalfClose,
    ReadBytes,
    Repeat,
    Reset,
    Send,
    Step,
    Wait,
)
from conformance.transcript import Transcript, escape
from conformance.verdicts import (
    HarnessError,
    Outcome,
    ScenarioEnded,
    ScenarioFailed,
    ScenarioSkipped,
)

PROBE_CONNECTION = "alive"
PROBE_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"


class Session:
    """Runs the steps of one scenario against the server at host:port.

    Every response read is shown to the run's `ledger`, which holds it against the run-wide rules
    under the name `scenario_id`; the scenario itself judges only its own concern. With
    `late_window`, a response missing at the timeout is awaited that much longer, to say how late
    it was.
    """

    def __init__(
        self,
        host: str,
        port: int,
        docroot: Path,
        settings: Settings,
        *,
        scenario_id: str = "",
        ledger: Ledger | None = None,
        late_window: float = 0.0,
        plain_forms: dict | None = None,
    ) -> None:
        self.docroot, self.settings = docroot, settings
        self.scenario_id = scenario_id
        self.ledger = ledger if ledger is not None else Ledger()
        self.late_window = late_window
        self.transcript = Transcript()
        self.clients = Clients(host, port, settings, self.transcript)
        self.choices: list[str] = []
        self.abrupt_end = False
        # A property scenario found the server gone right after it closed a connection the
        # server held open (properties/laws.py): the engine charges that as a client-close death.
        self.died_at_client_close = False
        # What the property layer learned of the server's plain answers, shared by the run.
        self.plain_forms = {} if plain_forms is None else plain_forms
        self._files: dict[str, bytes] = {}

    def run(self, steps: tuple[Step, ...]) -> None:
        """Run the steps in order; the first failing one raises."""
        for step in steps:
            self.run_step(step)

    def run_step(self, step: Step) -> ReadResponse | None:
        """Run one step; an Expect returns the response it read.

        Each kind of step is run by the method named after its first key (`_step_send` for
        `{ send = ... }`), so a new kind is one class in steps.py and one method here.
        """
        runner: Callable[[Step], ReadResponse | None] = getattr(self, f"_step_{step.keys[0]}")
        return runner(step)

    def read_file(self, name: str) -> bytes:
        """The content of a document root file, which scenarios compare bodies with."""
        if name not in self._files:
            try:
                self._files[name] = (self.docroot / name).read_bytes()
            except OSError as error:
                raise HarnessError(f"document root file {name!r} unreadable: {error}") from None
        return self._files[name]

    def fail(self, message: str, expected: str = "", actual: str = "") -> NoReturn:
        """End the scenario with a `fail` outcome."""
        raise ScenarioFailed(Outcome.FAIL, message, expected, actual)

    def close_all(self) -> None:
        """Close every connection the scenario left open."""
        self.clients.close_all()

    def _deadline(self) -> float:
        return time.monotonic() + self.settings.response_timeout

    # Responses -------------------------------------------------------------------------------

    def _step_expect(self, step: Expect) -> ReadResponse:
        conn = self.clients.get(step.on)
        expected = self._describe_expect(step)
        where = _where(conn.name, conn.reader.responses_requested + 1)
        seconds = self.settings.response_timeout
        deadline = self._deadline()
        late_deadline = deadline + self.late_window if self.late_window else None
        try:
            response = conn.reader.read_response(step.method, deadline, late_deadline)
        except ClosedBeforeResponse as closed:
            how = "reset" if closed.reset else "closed"
            if step.or_close:
                self.choices.append(how)
                raise ScenarioEnded from None  # A close is allowed here, and nothing follows it.
            self.abrupt_end = True
            self.fail(f"{where}{closed}", expected, f"the connection was {how}, no response")
        except LateResponse as late:
            self._inspect(conn, late.response)
            took = late.response.elapsed
            self.transcript.note(conn.name, f"that response took {took:.1f} s: too late")
            raise ScenarioFailed(
                Outcome.HANG,
                f"{where}the response came {took - seconds:.1f} s late: it took {took:.1f} s,"
                f" and h1check waits {seconds:g} s (--timeout)",
                f"a response within {seconds:g} s",
                f"{describe_response(late.response)}, {took:.1f} s after the request",
            ) from None
        except ResponseTimeout as timeout:
            waited = seconds + self.late_window
            self.transcript.note(conn.name, f"h1check stopped waiting after {waited:g} s")
            if not timeout.received:
                message = f"{where}no response within {seconds:g} s"
                raise ScenarioFailed(Outcome.HANG, message, expected, "nothing") from None
            actual = f"{len(timeout.received)} bytes, starting {escape(timeout.received[:80])}"
            self.fail(f"{where}response still incomplete after {seconds:g} s", expected, actual)
        except FramingError as error:
            self.abrupt_end = self.abrupt_end or conn.reader.eof
            actual = f"bytes h11 cannot parse as a response: {escape(error.received[:80])}"
            self.fail(f"{where}malformed response: {error}", expected, actual)
        self._inspect(conn, response)
        conn.finished = response.announces_close
        self._judge(step, response, expected, where)
        self._apply_then(step, conn, response, where)
        return response

    def _inspect(self, conn: ClientConnection, response: ReadResponse) -> None:
        request = conn.request_answered(conn.reader.responses_requested)
        self.ledger.inspect(self.scenario_id, response, request)

    def _describe_expect(self, step: Expect) -> str:
        options = [describe_spec(spec, self.read_file) for spec in step.alternatives]
        if step.or_close:
            options.append("the connection closed without a response")
        return "; or ".join(options)

    def _judge(self, step: Expect, response: ReadResponse, expected: str, where: str) -> None:
        verdicts = [judge_response(response, spec, self.read_file) for spec in step.alternatives]
        for spec, problems in zip(step.alternatives, verdicts, strict=True):
            if not problems:
                if len(step.alternatives) > 1 or step.or_close:
                    self.choices.append(spec.label or str(response.status))
                return
        # Explain against the alternative the server apparently aimed for: its status fits.
        fitting = [
            problems
            for spec, problems in zip(step.alternatives, verdicts, strict=True)
            if spec.accepts_status(response.status)
        ]
        problems = (fitting or verdicts)[0]
        actual = f"{describe_response(response)}: {'; '.join(problems)}"
        self.fail(f"{where}{problems[0]}", expected, actual)

    def _apply_then(
        self, step: Expect, conn: ClientConnection, response: ReadResponse, where: str
    ) -> None:
        if step.then == "open":
            if response.announces_close:
                self.fail(
                    f"{where}the response announced that the connection closes after it",
                    "a persistent connection (HTTP/1.1 without Connection: close)",
                    f"{describe_response(response)}, Connection: {response.header('connection')}",
                )
            if response.closed:
                self.fail(
                    f"{where}the server closed the connection after the response",
                    "the connection kept open",
                    describe_response(response),
                )
        elif step.then == "closed":
            self._await_close(conn, "after the response")
        elif step.then == "may-close" and self._closes_within(conn, self.settings.quiet_period):
            raise ScenarioEnded
        elif step.then == "announced":
            if response.announces_close:
                self._await_close(conn, "after announcing Connection: close")
                raise ScenarioEnded
            if self._closes_within(conn, self.settings.quiet_period):
                self._unannounced_close(conn, response, where)

    def _unannounced_close(
        self, conn: ClientConnection, response: ReadResponse, where: str
    ) -> None:
        """Record a close nobody was told of; only the rule's owner fails for it."""
        request = conn.request_answered(conn.reader.responses_requested)
        message = "the server closed the connection without announcing it"
        self.ledger.record(
            "announce-close", self.scenario_id, f"{message} after answering {request}"
        )
        owner = self.ledger.owners.get("announce-close")
        if owner == self.scenario_id:
            self.fail(
                f"{where}{message}",
                "Connection: close on a response after which the server closes",
                f"{describe_response(response)}, without Connection: close",
            )
        charged = f"{owner} charges that" if owner else "charged once, to the first scenario"
        raise ScenarioSkipped(f"{where}{message}, so the rest could not be judged ({charged})")

    # The connection after a response --------------------------------------------------------

    def _closes_within(self, conn: ClientConnection, seconds: float) -> bool:
        """Whether the server closes within `seconds` (bytes arriving first mean it does not)."""
        if conn.reader.pending():
            return False  # More data (e.g. the next pipelined response) is already here.
        if conn.reader.eof:
            return True
        return conn.reader.receive(time.monotonic() + seconds) == b""

    def _await_close(self, conn: ClientConnection, when: str) -> None:
        self._refuse_extra_bytes(conn, when)
        data = conn.reader.receive(self._deadline())
        self._refuse_extra_bytes(conn, when)
        if data is None:
            seconds = self.settings.response_timeout
            self.fail(
                f"the server kept the connection open {when}",
                "the server closes the connection",
                f"still open {seconds:g} s later",
            )

    def _refuse_extra_bytes(self, conn: ClientConnection, when: str = "after the response") -> None:
        extra = conn.reader.pending()
        if extra:
            self.fail(
                f"{len(extra)} unexpected bytes arrived {when}",
                f"no bytes {when}",
                escape(extra[:120]),
            )

    def _refuse_reset(self, conn: ClientConnection) -> None:
        if conn.reader.reset:
            self.fail(
                "the server reset the connection instead of closing it cleanly",
                "a clean close (FIN) after all request bytes were read, or an open connection",
                "a reset (RST): the server closed with request bytes still unread",
            )

    def _step_closed(self, step: ExpectClosed) -> None:
        conn = self.clients.get(step.on)
        self._await_close(conn, "at this point")
        if step.clean:
            self._refuse_reset(conn)

    def _step_silent(self, step: ExpectSilence) -> None:
        conn = self.clients.get(step.on)
        seconds = self.settings.quiet_period if step.seconds is None else step.seconds
        self._refuse_extra_bytes(conn)
        if conn.reader.receive(time.monotonic() + seconds):
            self.fail(
                f"the server sent bytes within {seconds:g} s where it should stay silent",
                "no bytes yet",
                escape(conn.reader.pending()[:120]),
            )
        if step.clean:
            self._refuse_reset(conn)

    # Other steps -----------------------------------------------------------------------------

    def _step_send(self, step: Send) -> None:
        self.clients.send(step)

    def _step_half_close(self, step: HalfClose) -> None:
        self.clients.shutdown_write(self.clients.get(step.on))

    def _step_reset(self, step: Reset) -> None:
        self.clients.reset(self.clients.get(step.on))

    def _step_check_alive(self, _step: CheckAlive) -> None:
        self.check_alive()

    def _step_wait(self, step: Wait) -> None:
        time.sleep(step.seconds)

    def _step_connect(self, step: Connect) -> None:
        self.clients.open(step.name, step.recv_buffer)

    def _step_close(self, step: Close) -> None:
        # The scenario's own close waits for nothing: a client leaving mid-response is the point.
        self.clients.close(self.clients.get(step.on), "client closed the connection", wait=False)

    def _step_read_bytes(self, step: ReadBytes) -> None:
        conn = self.clients.get(step.on)
        deadline = self._deadline()
        received = len(conn.reader.pending())
        while received < step.count:
            data = conn.reader.receive(deadline)
            if data is None and not received:
                expected = f"{step.count} bytes"
                raise ScenarioFailed(Outcome.HANG, "no bytes arrived in time", expected, "none")
            if not data:
                self.fail(
                    f"only {received} of {step.count} expected bytes arrived",
                    f"{step.count} bytes",
                    f"{received} bytes",
                )
            received += len(data)

    def check_alive(self, late_window: float = 0.0) -> None:
        """A fresh GET / must be answered in time; with `late_window` a late answer counts too."""
        conn = self.clients.open(PROBE_CONNECTION, note=False)
        self.transcript.sent(conn.name, PROBE_REQUEST)
        conn.expect_server_close = True
        expected = "any response to GET / on a fresh connection"
        seconds = self.settings.response_timeout
        deadline = self._deadline()
        try:
            if self.clients.send_bytes(conn, PROBE_REQUEST):
                conn.reader.read_response("GET", deadline, deadline + late_window)
        except ResponseTimeout as timeout:
            if not timeout.received:
                message = f"a fresh GET / got no answer in {seconds:g} s"
                raise ScenarioFailed(Outcome.HANG, message, expected, "nothing") from None
        except ClosedBeforeResponse as closed:
            message = f"a fresh GET / was not answered: {closed}"
            raise ScenarioFailed(Outcome.CRASH, message, expected, str(closed)) from None
        except (FramingError, LateResponse):
            pass  # It answered; whether correctly, or in time, is another scenario's concern.
        finally:
            self.clients.close(conn)

    def _step_repeat(self, step: Repeat) -> None:
        for _ in range(step.times):
            self.run(step.steps)


def probe(
    host: str, port: int, docroot: Path, settings: Settings
) -> tuple[ScenarioFailed | None, bool]:
    """Whether a fresh GET / gets an answer (None if it does, else the failure explaining why),
    and whether the probe had to close a connection the server still held open."""
    session = Session(host, port, docroot, settings)
    failure = None
    try:
        session.check_alive(late_window=settings.response_timeout)
    except ScenarioFailed as caught:
        failure = caught
    finally:
        session.close_all()
    return failure, session.clients.client_initiated_closes > 0


def _where(connection: str, ordinal: int) -> str:
    """A message prefix naming the connection and response, when there is more than one."""
    parts = [] if connection == DEFAULT_CONNECTION else [f"connection {connection}"]
    if ordinal > 1:
        parts.append(f"response {ordinal}")
    return f"[{', '.join(parts)}] " if parts else ""
