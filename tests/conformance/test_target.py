"""Launching, probing and stopping servers under test."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from conformance import target as target_module
from conformance.docroot import CANARY_NAME, CANARY_TEXT, write_docroot
from conformance.ports import pick_free_port
from conformance.target import (
    POLLS_PER_SYSTEM_SCAN,
    LaunchedTarget,
    ReferenceTarget,
    RunningTarget,
    TargetError,
    address_in_use_reason,
)

# A tiny server whose behaviour the tests choose: it records how it was launched, answers each
# connection with the number of connections accepted so far, and can crash, spawn a child, listen
# on IPv6 only, or bind without SO_REUSEADDR.
TOY_SERVER = """
import json, os, pathlib, signal, socket, subprocess, sys
port, mode = int(sys.argv[1].removeprefix("--port=")), sys.argv[2]
pathlib.Path("launch.json").write_text(json.dumps(
    {"argv": sys.argv[1:], "cwd": os.getcwd(), "PORT": os.environ.get("PORT"),
     "DOCROOT": os.environ.get("DOCROOT"), "pid": os.getpid()}))
if mode == "spawn":
    # The child inherits an ignored SIGTERM, so only the group's SIGKILL can stop it.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    pathlib.Path("child.pid").write_text(str(child.pid))
if mode == "eaddrinuse":
    held = socket.socket()
    held.bind(("127.0.0.1", port))
    socket.socket().bind(("127.0.0.1", port))
print("toy server starting", flush=True)
if mode == "ipv6":
    listener = socket.create_server(("::1", port), family=socket.AF_INET6)
elif mode == "no-reuseaddr":
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen()
else:
    listener = socket.create_server(("127.0.0.1", port))
accepted = 0
while True:
    connection, _ = listener.accept()
    accepted += 1
    if mode == "crash":
        print("dying on connection", accepted, flush=True)
        sys.exit(7)
    connection.sendall(str(accepted).encode())
    connection.close()
"""


@pytest.fixture
def toy_server(tmp_path: Path) -> Path:
    """The toy server script, written outside any directory a target creates."""
    script = tmp_path / "toy_server.py"
    script.write_text(TOY_SERVER)
    return script


def toy(script: Path, mode: str = "count", port: str = "{port}") -> list[str]:
    """The command line that runs the toy server in `mode`."""
    return [sys.executable, str(script), port, mode]


def behind(wrapper: str, command: list[str]) -> list[str]:
    """`command` run by a Python process executing `wrapper` (which sees it as sys.argv[1:])."""
    return [sys.executable, "-c", f"import os, subprocess, sys, time; {wrapper}", *command]


@pytest.fixture(params=["listing allowed", "listing refused"])
def system_listing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test where listing every socket of the system is allowed (Linux), and where it is
    refused (macOS, to anyone but root)."""
    if request.param == "listing refused":

        def refuse(kind: str = "inet") -> list:
            raise psutil.AccessDenied()

        monkeypatch.setattr(psutil, "net_connections", refuse)
    return request.param


def time_wait_port() -> int:
    """A port held only by a connection in TIME_WAIT: its server side closed first."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()
            client.recv(1)  # The server's FIN has arrived; closing now answers it.
    return port


def ask_count(target: LaunchedTarget) -> bytes:
    """Connect once and return the toy server's connection counter."""
    with socket.create_connection((target.host, target.port), timeout=2) as connection:
        return connection.recv(16)


def process_gone(pid: int) -> bool:
    """Whether `pid` no longer runs (absent, or a zombie nobody has reaped yet)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or the deadline passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_ready_without_any_connection_from_the_suite(toy_server: Path) -> None:
    with LaunchedTarget(toy(toy_server)) as target:
        assert target.host == "127.0.0.1"
        assert ask_count(target) == b"1"


def test_a_server_listening_on_ipv6_only_is_reached_on_its_loopback(toy_server: Path) -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with LaunchedTarget(toy(toy_server, "ipv6")) as target:
        assert target.host == "::1"
        assert ask_count(target) == b"1"


def test_a_server_behind_a_wrapper_process_is_ready_and_stopped(toy_server: Path) -> None:
    wrapper = "sys.exit(subprocess.call(sys.argv[1:]))"
    with LaunchedTarget(behind(wrapper, toy(toy_server))) as target:
        assert ask_count(target) == b"1"
        assert target.workdir is not None
        server = json.loads((target.workdir / "launch.json").read_text())["pid"]
        assert target.process is not None and server != target.process.pid
    assert wait_for(lambda: process_gone(server))


def test_a_server_outside_the_process_group_is_found_system_wide(
    toy_server: Path, system_listing: str
) -> None:
    # Like `docker run`, the command hands the port to a process that is not in its group.
    wrapper = "subprocess.Popen(sys.argv[1:], start_new_session=True); time.sleep(60)"
    target = LaunchedTarget(behind(wrapper, toy(toy_server)))
    try:
        target.start()
        assert ask_count(target) == b"1"
    finally:
        launch = target.workdir / "launch.json" if target.workdir is not None else None
        if launch is not None and launch.exists():
            os.kill(json.loads(launch.read_text())["pid"], signal.SIGKILL)
        target.stop()


def test_a_launch_lists_every_socket_of_the_system_rarely(
    toy_server: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"system": 0, "group": 0}
    list_system, list_group = psutil.net_connections, target_module.group_listeners

    def count(name: str, listing: Callable) -> Callable:
        def counted(*args: object, **kwargs: object) -> object:
            calls[name] += 1
            return listing(*args, **kwargs)

        return counted

    monkeypatch.setattr(psutil, "net_connections", count("system", list_system))
    monkeypatch.setattr(target_module, "group_listeners", count("group", list_group))
    slow_start = "time.sleep(0.8); os.execv(sys.argv[1], sys.argv[1:])"
    with LaunchedTarget(behind(slow_start, toy(toy_server))) as target:
        assert ask_count(target) == b"1"
    assert calls["group"] > POLLS_PER_SYSTEM_SCAN
    # Once to check the port is free before launching, then once per scan interval.
    assert calls["system"] <= 1 + calls["group"] // POLLS_PER_SYSTEM_SCAN


def test_launch_directory_substitution_and_environment(toy_server: Path) -> None:
    with LaunchedTarget([*toy(toy_server, port="--port={port}"), "{root}"]) as target:
        assert target.workdir is not None
        launch = json.loads((target.workdir / "launch.json").read_text())
        assert launch["argv"] == [f"--port={target.port}", "count", str(target.docroot)]
        assert launch["PORT"] == str(target.port)
        assert launch["DOCROOT"] == str(target.docroot)
        assert Path(launch["cwd"]) == target.workdir
        assert target.docroot == target.workdir / "html"
        assert (target.docroot / "index.html").is_file()
        assert target.canary == target.workdir / CANARY_NAME
        assert CANARY_TEXT in target.canary.read_text()
        workdir = target.workdir
    assert not workdir.exists()


def test_a_script_named_relative_to_the_caller_is_found(
    toy_server: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(toy_server.parent)
    with LaunchedTarget([sys.executable, toy_server.name, "{port}", "count"]) as target:
        assert ask_count(target) == b"1"
        assert target.description == f"{sys.executable} {toy_server.name} {{port}} count"


def test_port_held_by_another_process_is_refused_before_launch(
    toy_server: Path, system_listing: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        target = LaunchedTarget(toy(toy_server), port=port, workdir=toy_server.parent / "w")
        with pytest.raises(TargetError) as raised:
            target.start()
    assert str(raised.value).startswith(f"port {port} is already in use by pid {os.getpid()}: ")
    assert not (toy_server.parent / "w" / "launch.json").exists()


def test_missing_command_is_one_line() -> None:
    with pytest.raises(TargetError) as raised:
        LaunchedTarget(["no-such-server-binary"]).start()
    assert str(raised.value) == "command not found: no-such-server-binary"


def test_server_exiting_at_once_fails_fast_with_its_output() -> None:
    command = [sys.executable, "-c", "print('cannot open html'); raise SystemExit(3)"]
    started = time.monotonic()
    with pytest.raises(TargetError) as raised:
        LaunchedTarget(command).start()
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert "\n" not in message
    assert "exited with status 3 before listening" in message
    assert message.endswith("cannot open html")


def test_address_in_use_is_reported_as_such(toy_server: Path) -> None:
    target = LaunchedTarget(toy(toy_server, "eaddrinuse"))
    with pytest.raises(TargetError) as raised:
        target.start()
    assert str(raised.value) == (
        f"server could not bind port {target.port}: EADDRINUSE (another socket holds it)"
    )


def test_time_wait_is_blamed_on_a_server_without_so_reuseaddr(
    toy_server: Path, system_listing: str
) -> None:
    port = time_wait_port()
    with pytest.raises(TargetError) as raised:
        LaunchedTarget(toy(toy_server, "no-reuseaddr"), port=port).start()
    assert str(raised.value) == (
        f"server could not bind port {port}: EADDRINUSE (connections in TIME_WAIT hold it"
        " and the server does not set SO_REUSEADDR)"
    )
    with LaunchedTarget(toy(toy_server), port=port) as target:
        assert ask_count(target) == b"1"


def test_address_in_use_names_a_listener_over_closing_connections(system_listing: str) -> None:
    port = time_wait_port()
    assert address_in_use_reason("127.0.0.1", port).startswith("connections in TIME_WAIT")
    with socket.create_server(("127.0.0.1", port)):
        reason = address_in_use_reason("127.0.0.1", port)
    assert reason.startswith(f"pid {os.getpid()}: ") and reason.endswith(" listens on it")


def test_server_on_another_port_is_named_without_waiting_for_the_timeout(
    toy_server: Path, system_listing: str
) -> None:
    hard_coded = pick_free_port()
    target = LaunchedTarget(toy(toy_server, port=str(hard_coded)))
    started = time.monotonic()
    with pytest.raises(TargetError) as raised:
        target.start()
    assert time.monotonic() - started < target.start_timeout / 2
    assert str(raised.value) == (
        f"server listens on port {hard_coded}, not on {target.port}:"
        f" pass --port {hard_coded} or make it use {{port}} / $PORT"
    )


def test_server_that_never_listens_times_out() -> None:
    command = [sys.executable, "-c", "import time; time.sleep(30)"]
    target = LaunchedTarget(command, start_timeout=0.3)
    with pytest.raises(TargetError) as raised:
        target.start()
    assert str(raised.value) == f"server did not listen on port {target.port} within 0.3 s"
    assert target.process is not None and target.process.poll() is not None


def test_stop_kills_the_whole_process_group(toy_server: Path) -> None:
    with LaunchedTarget(toy(toy_server, "spawn")) as target:
        assert target.workdir is not None and target.process is not None
        child = int((target.workdir / "child.pid").read_text())
        leader = target.process.pid
    assert wait_for(lambda: process_gone(child))
    assert process_gone(leader)


def test_crash_is_detected_explained_and_restarted(toy_server: Path) -> None:
    with LaunchedTarget(toy(toy_server, "crash")) as target:
        port = target.port
        assert target.is_running()
        ask_count(target)
        assert wait_for(lambda: not target.is_running())
        details = target.crash_details()
        assert details.startswith("server exited with status 7\n")
        assert "dying on connection 1" in details
        target.restart()
        assert target.is_running()
        assert target.port == port
        assert "still running" in target.crash_details()


@pytest.fixture
def tiny_http_server() -> Iterator[tuple[int, list[bytes]]]:
    """A one-connection server answering 200; yields its port and the requests it read."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def answer_once() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(2)
            received = b""
            while b"\r\n\r\n" not in received:
                received += connection.recv(1024)
            requests.append(received)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], requests
    finally:
        listener.close()
        thread.join(timeout=2)


def test_running_target_probes_with_a_complete_request(tiny_http_server) -> None:
    port, requests = tiny_http_server
    RunningTarget("127.0.0.1", port).start()
    assert requests == [
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    ]


def test_unreachable_running_target_is_one_line() -> None:
    port = pick_free_port()
    with pytest.raises(TargetError) as raised:
        RunningTarget("127.0.0.1", port).start()
    assert str(raised.value) == f"cannot connect to 127.0.0.1:{port}: Connection refused"


def test_silent_running_target_times_out() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        target = RunningTarget("127.0.0.1", port, probe_timeout=0.2)
        with pytest.raises(TargetError) as raised:
            target.start()
    assert str(raised.value) == f"127.0.0.1:{port} did not answer GET / within 0.2 s"


def test_running_target_finds_the_canary_beside_its_root(tmp_path: Path) -> None:
    root, canary = write_docroot(tmp_path)
    assert RunningTarget("127.0.0.1", 1, docroot=root).canary == canary
    assert RunningTarget("127.0.0.1", 1, docroot=tmp_path / "a" / "bare").canary is None


def test_reference_target_serves_the_suite_docroot() -> None:
    with ReferenceTarget("epoll") as target:
        assert target.description == "reference server (epoll backend)"
        index = (target.docroot / "index.html").read_bytes()
        with socket.create_connection((target.host, target.port), timeout=2) as connection:
            connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
            received = b""
            while chunk := connection.recv(65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(index)
