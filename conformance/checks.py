"""The few scenarios that need code rather than steps: revalidating with a validator the server
chose. Each check drives a Session with ordinary steps and raises through it on failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn, Protocol

from conformance.oracle import ReadResponse
from conformance.steps import Expect, ResponseSpec, Send, Step


class StepRunner(Protocol):
    """What a check needs of the scenario's Session (session.py): run steps, and fail."""

    def run_step(self, step: Step) -> ReadResponse | None:
        """Run one step; an Expect returns the response it read."""

    def fail(self, message: str, expected: str = "", actual: str = "") -> NoReturn:
        """End the scenario with a `fail` outcome."""


def _get_root(session: StepRunner, connection: str, status: str, extra_header: str = "") -> Expect:
    """Send GET / (closing afterwards) on `connection`; return the expectation for its answer."""
    request = f"GET / HTTP/1.1\r\nHost: localhost\r\n{extra_header}Connection: close\r\n\r\n"
    session.run_step(Send(on=connection, fragments=(request.encode("latin-1"),)))
    if status == "304":
        return Expect(on=connection, alternatives=(ResponseSpec(("304",), empty_body=True),))
    return Expect(on=connection, alternatives=(ResponseSpec(("200",), body_file="index.html"),))


def _revalidate(session: StepRunner, validator: str, condition: str) -> None:
    """GET / to learn `validator`, then GET / with `condition` carrying it: expect 304, no body."""
    first = session.run_step(_get_root(session, "first", "200"))
    value = first.header(validator) if first is not None else None
    if value is None:
        session.fail(
            f"the 200 response to GET / carried no {validator}, so it cannot be revalidated",
            f"{validator} in the 200 response to GET /",
            f"no {validator} header",
        )
    session.run_step(_get_root(session, "second", "304", f"{condition}: {value}\r\n"))


def if_none_match(session: StepRunner) -> None:
    """If-None-Match with the ETag the server sent gets 304 Not Modified without a body."""
    _revalidate(session, "ETag", "If-None-Match")


def if_modified_since(session: StepRunner) -> None:
    """If-Modified-Since with the Last-Modified the server sent gets 304 without a body."""
    _revalidate(session, "Last-Modified", "If-Modified-Since")


CHECKS: dict[str, Callable[[StepRunner], None]] = {
    "if_none_match": if_none_match,
    "if_modified_since": if_modified_since,
}
