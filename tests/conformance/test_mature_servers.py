"""docs/RESULTS.md tells the truth: mature servers fail exactly the scenarios it lists.

Every failure listed there was checked against the RFC text by hand; this test keeps that
list equal to what the suite says today, so a suite change that made it lenient or strict
towards a mature server shows up here.

Each server runs as shipped: its configuration only says where the files are, which address
to listen on, where to keep its logs, and that it stays in the foreground. Tuning one to pass
would defeat the point.
"""

from __future__ import annotations

import http.client
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conformance.engine import Settings, run
from conformance.ports import pick_free_port
from conformance.scenarios import load_catalogue
from conformance.target import LaunchedTarget
from conformance.verdicts import SERVER_FAULTS, Outcome

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "RESULTS.md"
LISTED = re.compile(r"^\| `([a-z-]+\.[a-z0-9-]+)` \|", re.MULTILINE)
READY_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class MatureServer:
    """How to run one server on `{port}` serving `{workdir}/html`, and its RESULTS.md section.

    `config` is written to `{workdir}/{config_name}`; `{workdir}`, `{port}` and `{config}` are
    filled in there, in `command` and in the values of `env` (so braces the server's own syntax
    needs are doubled).
    """

    heading: str
    command: tuple[str, ...]
    config_name: str = ""
    config: str = ""
    env: dict[str, str] = field(default_factory=dict)

    def target(self, workdir: Path) -> LaunchedTarget:
        """A launched target for this server, with its configuration written into `workdir`."""
        port = pick_free_port()
        config = workdir / self.config_name if self.config_name else None
        fields = {"workdir": workdir, "port": port, "config": config}
        if config is not None:
            config.write_text(self.config.format(**fields))
        command = [argument.format(**fields) for argument in self.command]
        env = {name: value.format(**fields) for name, value in self.env.items()}
        return LaunchedTarget(command, port=port, workdir=workdir, env=env)


NGINX = MatureServer(
    heading="nginx",
    command=("nginx", "-e", "{workdir}/error.log", "-c", "{config}"),
    config_name="nginx.conf",
    config="""\
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
""",
)

# lighttpd has no default index file and sends every file as application/octet-stream unless
# told otherwise, so the index name and Debian's MIME table (what its own lighttpd.conf
# includes, like nginx's mime.types above) are set; everything else is lighttpd's default.
# Without server.username it keeps running as whoever started it.
LIGHTTPD = MatureServer(
    heading="lighttpd",
    command=("lighttpd", "-D", "-f", "{config}"),
    config_name="lighttpd.conf",
    config="""\
server.document-root = "{workdir}/html"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{workdir}/error.log"
server.pid-file = "{workdir}/lighttpd.pid"
server.upload-dirs = ( "{workdir}" )
index-file.names = ( "index.html" )
include_shell "/usr/share/lighttpd/create-mime.conf.pl"
""",
)

# Caddy logs to stderr (LaunchedTarget keeps it in server-output.log) and keeps its state
# under $HOME and the XDG directories, which therefore point into the working directory. The
# Caddyfile is indented with tabs as `caddy fmt` wants; Caddy warns about anything else.
CADDY = MatureServer(
    heading="Caddy",
    command=("caddy", "run", "--config", "{config}", "--adapter", "caddyfile"),
    config_name="Caddyfile",
    config="""\
{{
	admin off
	auto_https off
}}

http://:{port} {{
	bind 127.0.0.1
	root * {workdir}/html
	file_server
}}
""",
    env={
        "HOME": "{workdir}/home",
        "XDG_CONFIG_HOME": "{workdir}/home/config",
        "XDG_DATA_HOME": "{workdir}/home/data",
        "XDG_CACHE_HOME": "{workdir}/home/cache",
    },
)

PYTHON_HTTP_SERVER = MatureServer(
    heading="python -m http.server",
    command=(
        *(sys.executable, "-m", "http.server", "-p", "HTTP/1.1", "-b", "127.0.0.1"),
        *("-d", "{workdir}/html", "{port}"),
    ),
)


def installed(server: MatureServer) -> pytest.MarkDecorator:
    """Skip a server whose program is not installed."""
    program = server.command[0]
    return pytest.mark.skipif(shutil.which(program) is None, reason=f"{program} is not installed")


MATURE_SERVERS = [
    pytest.param(PYTHON_HTTP_SERVER, id="python-http-server"),
    pytest.param(NGINX, id="nginx", marks=installed(NGINX)),
    pytest.param(LIGHTTPD, id="lighttpd", marks=installed(LIGHTTPD)),
    pytest.param(CADDY, id="caddy", marks=installed(CADDY)),
]


def documented_failures(heading: str) -> set[str] | None:
    """The scenario ids listed under the RESULTS.md section whose heading starts so (None when
    there is no such section)."""
    for section in RESULTS.read_text().split("\n## ")[1:]:
        if section.startswith(heading):
            return set(LISTED.findall(section))
    return None


def assert_serves_index(target: LaunchedTarget) -> None:
    """The server answers GET / with html/index.html, so a wrong setup is not blamed on it."""
    connection = http.client.HTTPConnection(target.host, target.port, timeout=READY_TIMEOUT_S)
    try:
        connection.request("GET", "/", headers={"Connection": "close"})
        response = connection.getresponse()
        status, body = response.status, response.read()
    finally:
        connection.close()
    assert (status, body) == (200, (target.docroot / "index.html").read_bytes()), (
        f"{target.description} does not serve html/index.html for GET / (status {status});"
        f" its output:\n{target.crash_details()}"
    )


def failures_of(target: LaunchedTarget) -> dict[str, str]:
    """Run every scenario at every level; the id and message of each the server failed."""
    with target:
        assert_serves_index(target)
        verdicts = run(load_catalogue(), target, Settings())
    # Anything but a pass, a skip or the server's own fault means the suite could not judge.
    judged = SERVER_FAULTS | {Outcome.PASS, Outcome.SKIP}
    unjudged = {v.scenario.id: v.message for v in verdicts if v.outcome not in judged}
    assert not unjudged, f"the harness could not judge: {unjudged}"
    return {v.scenario.id: v.message for v in verdicts if v.outcome in SERVER_FAULTS}


@pytest.mark.slow
@pytest.mark.parametrize("server", MATURE_SERVERS)
def test_mature_server_fails_what_results_md_lists(server: MatureServer, tmp_path: Path):
    failed = failures_of(server.target(tmp_path))
    documented = documented_failures(server.heading)
    assert documented is not None, f"docs/RESULTS.md has no '## {server.heading}' section: {failed}"
    assert set(failed) == documented, failed
