"""docs/RESULTS.md tells the truth: mature servers fail exactly the scenarios it lists.

Every failure listed there was checked against the RFC text by hand; this test keeps that
list equal to what the suite says today, so a suite change that made it lenient or strict
towards a mature server shows up here.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from conformance.engine import Settings, run
from conformance.scenarios import load_catalogue
from conformance.target import LaunchedTarget, pick_free_port
from conformance.verdicts import SERVER_FAULTS, Outcome

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "RESULTS.md"
LISTED = re.compile(r"^\| `([a-z-]+\.[a-z0-9-]+)` \|", re.MULTILINE)

NGINX_CONFIG = """\
user root;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{}}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {workdir};
    server {{
        listen 127.0.0.1:{port};
        root {workdir}/html;
    }}
}}
"""


def documented_failures(heading: str) -> set[str]:
    """The scenario ids listed under the RESULTS.md section whose heading starts so."""
    for section in RESULTS.read_text().split("\n## ")[1:]:
        if section.startswith(heading):
            return set(LISTED.findall(section))
    raise AssertionError(f"docs/RESULTS.md has no section '## {heading}'")


def failures_of(target: LaunchedTarget) -> dict[str, str]:
    """Run every scenario at every level; the id and message of each the server failed."""
    with target:
        verdicts = run(load_catalogue(), target, Settings())
    assert not [v for v in verdicts if v.outcome is Outcome.ERROR], "the harness failed"
    return {v.scenario.id: v.message for v in verdicts if v.outcome in SERVER_FAULTS}


@pytest.mark.slow
def test_python_http_server_fails_what_results_md_lists():
    command = [sys.executable, "-m", "http.server", "-p", "HTTP/1.1", "-b", "127.0.0.1"]
    failed = failures_of(LaunchedTarget([*command, "-d", "{root}", "{port}"]))
    assert set(failed) == documented_failures("python -m http.server"), failed


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_nginx_fails_what_results_md_lists(tmp_path):
    port = pick_free_port()
    config = tmp_path / "nginx.conf"
    config.write_text(NGINX_CONFIG.format(workdir=tmp_path, port=port))
    command = ["nginx", "-e", str(tmp_path / "error.log"), "-c", str(config)]
    failed = failures_of(LaunchedTarget(command, port=port, workdir=tmp_path))
    assert set(failed) == documented_failures("nginx"), failed
