"""The connection state machine: deadlines, closing, shutdown and back-pressure."""

from __future__ import annotations

from reference.core import Close, Send, SendFile, ShutdownWrite
from reference.limits import Limits
from tests.reference.corekit import Wire, new_connection, perform

GET = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
LIMITS = Limits(idle_timeout=5, head_timeout=10, send_timeout=7, linger_timeout=2)


def test_one_response_is_outstanding_at_a_time():
    connection = new_connection(LIMITS)
    actions = connection.data_received(GET * 3, 0.0)
    assert [type(action) for action in actions] == [Send]
    assert not connection.wants_read, "must not read more while a response is unsent"
    assert connection.output_drained(0.0)[0].data.startswith(b"HTTP/1.1 200")
    assert connection.responses == 2


def test_an_idle_connection_closes_at_the_idle_timeout():
    connection = new_connection(LIMITS, now=100.0)
    assert connection.deadline == 105.0
    assert connection.deadline_passed(104.9) == []
    assert connection.deadline_passed(105.0) == [Close()]


def test_a_slow_head_gets_408_at_the_head_timeout():
    connection = new_connection(LIMITS)
    connection.data_received(b"GET / HT", 1.0)
    assert connection.deadline == 11.0
    connection.data_received(b"TP/1.1\r\n", 9.0)
    assert connection.deadline == 11.0, "trickling bytes must not extend the head deadline"
    wire = Wire()
    perform(connection, connection.deadline_passed(11.0), wire, now=11.0)
    assert wire.output.startswith(b"HTTP/1.1 408 ")
    assert b"Connection: close\r\n" in wire.output and wire.half_closed


def test_a_client_that_stops_reading_is_dropped_without_progress():
    connection = new_connection(LIMITS)
    actions = connection.data_received(b"GET /large.bin HTTP/1.1\r\nHost: a\r\n\r\n", 0.0)
    assert isinstance(actions[1], SendFile)
    connection.output_progress(6.0)
    assert connection.deadline_passed(7.0) == []
    assert connection.deadline_passed(13.0) == [Close()]


CLOSING_GET = GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")


def test_a_client_that_asked_to_close_and_sent_nothing_more_is_closed_at_once():
    """RFC 9112 §9.6: it may send no further request, so no late byte can cause a reset."""
    connection = new_connection(LIMITS)
    connection.data_received(CLOSING_GET, 0.0)
    assert connection.output_drained(1.0) == [Close()]


def test_after_a_close_response_with_bytes_still_unread_it_half_closes_and_lingers():
    connection = new_connection(LIMITS)
    connection.data_received(CLOSING_GET + b"GET /late HTTP/1.1\r\n", 0.0)
    assert connection.output_drained(1.0) == [ShutdownWrite()]
    assert connection.wants_read and connection.deadline == 3.0
    assert connection.data_received(b"late pipelined bytes", 1.5) == []
    assert connection.data_received(b"", 1.6) == [Close()]


def test_a_close_the_server_decided_lingers_even_with_nothing_unread():
    connection = new_connection(LIMITS)
    connection.data_received(b"GET / HTTP/1.1\r\n\r\n", 0.0)  # no Host: 400, then close
    assert connection.output_drained(1.0) == [ShutdownWrite()]


def test_lingering_ends_at_its_deadline_if_the_client_never_closes():
    connection = new_connection(LIMITS)
    connection.data_received(b"BAD\r\n\r\n", 0.0)
    connection.output_drained(0.0)
    assert connection.deadline_passed(2.0) == [Close()]


def test_end_of_input_after_a_request_still_gets_the_response():
    connection = new_connection(LIMITS)
    wire = Wire()
    perform(connection, connection.data_received(GET, 0.0), wire)
    perform(connection, connection.data_received(b"", 0.0), wire)
    assert wire.output.startswith(b"HTTP/1.1 200 ") and wire.closed


def test_stop_closes_an_idle_connection_and_lets_a_busy_one_finish():
    idle = new_connection(LIMITS)
    assert idle.stop(0.0) == [Close()]
    busy = new_connection(LIMITS)
    busy.data_received(b"GET / HTTP/1.1\r\nHost: a\r\n", 0.0)
    assert busy.stop(0.0) == []
    wire = Wire()
    perform(busy, busy.data_received(b"\r\n", 0.0), wire)
    assert b"Connection: close\r\n" in wire.output and wire.half_closed


def test_a_body_too_large_to_discard_closes_after_the_response():
    connection = new_connection(Limits(max_discarded_body=10))
    head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n"
    [response] = connection.data_received(head, 0.0)
    assert response.data.startswith(b"HTTP/1.1 405 ")
    assert b"Connection: close\r\n" in response.data


def test_stop_while_a_body_is_unread_lingers_instead_of_resetting():
    connection = new_connection(LIMITS)
    connection.data_received(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\nabc", 0.0)
    assert connection.output_drained(0.0) == []
    assert connection.stop(1.0) == [ShutdownWrite()]
    assert connection.wants_read and connection.deadline == 3.0
