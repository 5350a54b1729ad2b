"""h1check as a student gets it: a wheel in a fresh venv, run from a directory of their own.

A checkout hides what an install lacks, since html/ and the RFC texts sit right beside the
packages. So the slow tests here build the wheel, install it with its dependencies from PyPI
into a new venv, and use only that venv's commands, from directories that hold nothing of
the checkout. gevent is an optional extra, so that venv also shows what a student who chooses
the gevent backend without it is told; a quick test simulates the same in this environment.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conformance.docroot import CANARY_NAME, CANARY_TEXT, docroot_files
from conformance.scenarios import load_catalogue

REPO_ROOT = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT = 600.0
RUN_TIMEOUT = 300.0
START_TIMEOUT = 15.0
GEVENT_HINT = "pip install 'h1check[gevent]'"
# As sitecustomize.py, makes `import gevent` fail as if gevent were not installed, in the
# process it is given to and in every Python process that one starts.
BLOCK_GEVENT = "import sys\nsys.modules['gevent'] = None\n"
# The gevent backend chosen through each command a student might use.
GEVENT_COMMANDS = {
    "server": ["-m", "reference", "--backend", "gevent", "--port", "0", "--root", "."],
    "suite": ["-m", "conformance", "run", "--reference", "gevent"],
}


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would let a child import the checkout, plus `extra`."""
    kept = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return kept | extra


def run(
    argv: list[str | Path],
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion and capture its output."""
    return subprocess.run(
        [str(argument) for argument in argv],
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    """The result, once it is known to have exited 0 (else fail showing its output's end)."""
    assert result.returncode == 0, f"{result.args}\n{result.stdout[-4000:]}\n{result.stderr}"
    return result


def assert_names_the_gevent_extra(result: subprocess.CompletedProcess[str]) -> None:
    """Exit status 2 and a single line of error that ends with how to install gevent."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].endswith(GEVENT_HINT), lines[0]
    assert result.returncode == 2


@pytest.fixture(scope="module")
def venv_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bin/ of a new venv holding the wheel built from this checkout, without extras."""
    work = tmp_path_factory.mktemp("packaging")
    wheels, venv = work / "wheels", work / "venv"
    quiet = ["--quiet", "--disable-pip-version-check"]
    build = [sys.executable, "-m", "pip", "wheel", *quiet, "--no-deps", "-w", wheels, REPO_ROOT]
    succeeded(run(build, cwd=work, timeout=INSTALL_TIMEOUT))
    succeeded(run([sys.executable, "-m", "venv", venv], cwd=work, timeout=INSTALL_TIMEOUT))
    (wheel,) = wheels.glob("h1check-*.whl")
    install = [venv / "bin" / "python", "-m", "pip", "install", *quiet, wheel]
    succeeded(run(install, cwd=work, timeout=INSTALL_TIMEOUT))
    return venv / "bin"


@pytest.mark.slow
def test_the_venv_imports_the_wheel_not_the_checkout(venv_bin: Path, tmp_path: Path) -> None:
    probe = "import conformance, reference; print(conformance.__file__, reference.__file__)"
    result = succeeded(run([venv_bin / "python", "-c", probe], cwd=tmp_path))
    assert all(Path(path).is_relative_to(venv_bin.parent) for path in result.stdout.split())


@pytest.mark.slow
def test_docroot_writes_the_suites_files(venv_bin: Path, tmp_path: Path) -> None:
    succeeded(run([venv_bin / "h1check", "docroot", "site"], cwd=tmp_path))
    root = tmp_path / "site" / "html"
    written = {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }
    assert written == docroot_files()
    assert (tmp_path / "site" / CANARY_NAME).read_text(encoding="ascii") == CANARY_TEXT


@pytest.mark.slow
def test_the_reference_server_passes_the_suite(venv_bin: Path, tmp_path: Path) -> None:
    succeeded(run([venv_bin / "h1check", "run", "--reference", "epoll"], cwd=tmp_path))


@pytest.mark.slow
def test_python_m_reference_serves_the_docroot_in_its_directory(
    venv_bin: Path, tmp_path: Path
) -> None:
    succeeded(run([venv_bin / "h1check", "docroot", "."], cwd=tmp_path))
    server = subprocess.Popen(
        [venv_bin / "python", "-m", "reference", "--port", "0"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], START_TIMEOUT)
        line = server.stdout.readline() if ready else ""
        assert line.startswith("listening on http://"), f"{line!r}; is the server stuck?"
        address = urlsplit(line.split()[-1])
        connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
        connection.request("GET", "/")
        response = connection.getresponse()
        assert response.status == 200
        assert response.read() == (tmp_path / "html" / "index.html").read_bytes()
        connection.close()
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=START_TIMEOUT)
    assert server.returncode == 0, errors


@pytest.mark.slow
def test_every_scenario_quote_is_found_in_the_bundled_rfcs(venv_bin: Path, tmp_path: Path) -> None:
    probe = """
import json
from conformance import rfc
from conformance.scenarios import load_catalogue
scenarios = load_catalogue()
misquoted = [s.id for s in scenarios if rfc.passage(s.rfc, s.requires) is None]
print(json.dumps({"scenarios": len(scenarios), "misquoted": misquoted}))
"""
    result = succeeded(run([venv_bin / "python", "-c", probe], cwd=tmp_path))
    assert json.loads(result.stdout) == {"scenarios": len(load_catalogue()), "misquoted": []}


@pytest.mark.slow
@pytest.mark.parametrize("arguments", GEVENT_COMMANDS.values(), ids=GEVENT_COMMANDS)
def test_gevent_without_the_extra_names_it(
    venv_bin: Path, tmp_path: Path, arguments: list[str]
) -> None:
    assert run([venv_bin / "python", "-c", "import gevent"], cwd=tmp_path).returncode != 0
    assert_names_the_gevent_extra(run([venv_bin / "python", *arguments], cwd=tmp_path))


@pytest.mark.parametrize("arguments", GEVENT_COMMANDS.values(), ids=GEVENT_COMMANDS)
def test_gevent_blocked_here_names_the_extra(tmp_path: Path, arguments: list[str]) -> None:
    blocker = tmp_path / "without-gevent"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCK_GEVENT, encoding="ascii")
    env = clean_env(PYTHONPATH=os.pathsep.join([str(blocker), str(REPO_ROOT)]))
    assert_names_the_gevent_extra(run([sys.executable, *arguments], cwd=tmp_path, env=env))
