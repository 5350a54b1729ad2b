"""What the harness starts: named recipes, each launched on a free loopback port.

Every server serves the same tree: the suite's document root (`conformance.docroot`) plus the
two large files the workloads ask for. Each runs in a fresh directory and is judged ready the
way the suite judges a course server (its process group listens on the port; see
conformance.target), then stopped by signalling its whole process group, so pre-forked workers
and gunicorn's arbiter go with it.

Settings are the servers' own defaults but for three, applied to all alike. Idle keep-alive
connections live 75 s everywhere (nginx's default; the reference server's is 5 s, gunicorn's
2 s), so the idle test measures capacity rather than timeouts. Connection caps are raised to
20,000 where a server has one (nginx's worker_connections, gunicorn's worker_connections), or
10k idle connections could not be tried. nginx gets `sendfile on`, as Debian's own nginx.conf
sets it, since serving files is what it is here to show.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

from bench.cpu import tree_cpu_s
from conformance.docroot import write_docroot
from conformance.ports import pick_free_port
from conformance.target import LaunchedTarget

REPO = Path(__file__).resolve().parent.parent
#: Files added to the suite's document root for the large-file workloads: name -> size.
BENCH_FILES = {"bench-16k.bin": 16 * 1024, "bench-1m.bin": 1024 * 1024}
#: Seconds an idle keep-alive connection may live, for every server that has such a bound.
KEEP_ALIVE_S = 75
#: Connection cap for the servers that have one; above the idle test's 10k.
CONNECTION_CAP = 20_000

NGINX_CONFIG = """\
{user}daemon off;
worker_processes {workers};
worker_rlimit_nofile {nofile};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{
    worker_connections {cap};
}}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    sendfile on;
    keepalive_timeout {keep_alive};
    client_body_temp_path {workdir};
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


@dataclass(frozen=True)
class Recipe:
    """How to run one server on `{port}` serving `{root}`.

    `command` and `config` are filled in with str.format at launch: {python}, {port}, {root},
    {workdir}, {config} (where `config` was written), {workers}, {nofile}, {cap},
    {keep_alive} and {user}; braces the server's own syntax needs are doubled.
    """

    name: str
    #: "reference", "nginx", "gunicorn" or "python": who wrote the server.
    family: str
    command: tuple[str, ...]
    #: Processes serving requests; ratios compare against nginx with as many workers.
    workers: int = 1
    config: str = ""
    #: What must be installed: a program on PATH, or "module:NAME" for a Python module.
    needs: str = ""
    #: The gunicorn recipe this one is expected to beat (reference backends only).
    counterpart: str = ""

    def missing(self) -> str | None:
        """Why this server cannot run here (None when it can)."""
        if not self.needs:
            return None
        kind, _, name = self.needs.rpartition(":")
        if kind == "module":
            return None if _importable(name) else f"Python module {name} is not installed"
        return None if shutil.which(name) else f"{name} is not installed"


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def reference(backend: str, workers: int = 1, counterpart: str = "") -> Recipe:
    """The bundled reference server running one backend."""
    name = backend if workers == 1 else f"{backend}-{workers}"
    command: tuple[str, ...] = ("{python}", "-m", "reference", "--backend", backend)
    command += ("--workers", "{workers}")
    command += ("--port", "{port}", "--root", "{root}", "--idle-timeout", "{keep_alive}")
    needs = "module:gevent" if backend == "gevent" else ""
    return Recipe(name, "reference", command, workers, needs=needs, counterpart=counterpart)


def nginx(workers: int) -> Recipe:
    """nginx with `workers` worker processes."""
    command = ("nginx", "-e", "{workdir}/error.log", "-c", "{config}")
    return Recipe(f"nginx-{workers}", "nginx", command, workers, NGINX_CONFIG, needs="nginx")


def gunicorn(worker_class: str, *options: str) -> Recipe:
    """gunicorn with one worker of `worker_class` serving bench/wsgi_static.py."""
    command: tuple[str, ...] = ("{python}", "-m", "gunicorn", "--bind", "127.0.0.1:{port}")
    command += ("--workers", "1")
    command += ("--worker-class", worker_class, "--keep-alive", "{keep_alive}")
    command += ("--log-level", "warning", *options, "bench.wsgi_static:app")
    needs = "module:gevent" if worker_class == "gevent" else "module:gunicorn"
    return Recipe(f"gunicorn-{worker_class}", "gunicorn", command, needs=needs)


HTTP_SERVER = Recipe(
    "http.server",
    "python",
    (
        "{python}",
        "-m",
        "http.server",
        "-p",
        "HTTP/1.1",
        "-b",
        "127.0.0.1",
        "-d",
        "{root}",
        "{port}",
    ),
)

#: Every server the harness knows, in the order the tables list them.
RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        reference("epoll", counterpart="gunicorn-gevent"),
        reference("epoll", workers=2),
        reference("asyncio", counterpart="gunicorn-gevent"),
        reference("asyncio", workers=2),
        reference("gevent", counterpart="gunicorn-gevent"),
        reference("nonblocking", counterpart="gunicorn-gevent"),
        reference("thread", counterpart="gunicorn-gthread"),
        reference("process", counterpart="gunicorn-sync"),
        reference("serial", counterpart="gunicorn-sync"),
        nginx(1),
        nginx(2),
        HTTP_SERVER,
        gunicorn("sync"),
        # gunicorn's documentation suggests 2-4 threads per core; this machine class has two.
        gunicorn("gthread", "--threads", "8", "--worker-connections", str(CONNECTION_CAP)),
        gunicorn("gevent", "--worker-connections", str(CONNECTION_CAP)),
    )
}
#: What `--servers` means when not given.
DEFAULT_SERVERS = (
    *("epoll", "epoll-2", "asyncio", "gevent", "thread", "process", "nginx-1", "nginx-2"),
    *("http.server", "gunicorn-sync", "gunicorn-gthread", "gunicorn-gevent"),
)


def write_bench_root(workdir: Path) -> Path:
    """The suite's document root plus BENCH_FILES under `workdir/html`; returns the root."""
    root, _ = write_docroot(workdir)
    for name, size in BENCH_FILES.items():
        (root / name).write_bytes(bench_file_bytes(size))
    return root


def bench_file_bytes(size: int) -> bytes:
    """A file's content: a byte pattern that no server could mistake for text or compress."""
    pattern = bytes(range(256))
    return (pattern * (size // len(pattern) + 1))[:size]


class RunningServer:
    """One launched recipe: its port, its process tree, and a way to stop it."""

    def __init__(self, recipe: Recipe, *, nofile: int) -> None:
        self.recipe = recipe
        self.workdir = Path(tempfile.mkdtemp(prefix=f"h1check-bench-{recipe.name}-"))
        root = write_bench_root(self.workdir)
        self.port = pick_free_port()
        fields = {
            "python": sys.executable,
            "port": self.port,
            "root": root,
            "workdir": self.workdir,
            "config": self.workdir / "server.conf",
            "workers": recipe.workers,
            "nofile": nofile,
            "cap": CONNECTION_CAP,
            "keep_alive": KEEP_ALIVE_S,
            # nginx would hand its workers to `nobody`, who may not read a private temp dir.
            "user": "user root;\n" if os.geteuid() == 0 else "",
        }
        if recipe.config:
            (self.workdir / "server.conf").write_text(recipe.config.format(**fields))
        command = [argument.format(**fields) for argument in recipe.command]
        inherited = os.environ.get("PYTHONPATH")
        # `python -m reference` and gunicorn's bench.wsgi_static import from this checkout.
        env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), inherited]))}
        self.target = LaunchedTarget(command, port=self.port, workdir=self.workdir, env=env)

    @property
    def host(self) -> str:
        """The loopback address the server listens on."""
        return self.target.host

    def url(self, path: str) -> str:
        """The http:// URL of `path` on this server."""
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> None:
        """Launch and wait until it listens (raises conformance.target.TargetError)."""
        self.target.start()

    def is_running(self) -> bool:
        """Whether the server's first process is still alive."""
        return self.target.is_running()

    def restart(self) -> None:
        """Kill what is left and launch again on the same port."""
        self.target.restart()

    def memory(self) -> int:
        """Bytes of memory the server's process tree uses (PSS, or RSS where PSS is unreadable).

        PSS charges a page shared by N processes 1/N to each, so a tree of forked children
        is not counted N times over, as summed RSS would.
        """
        process = self.target.process
        if process is None:
            return 0
        try:
            leader = psutil.Process(process.pid)
            tree = [leader, *leader.children(recursive=True)]
        except psutil.Error:
            return 0
        return sum(_memory_of(member) for member in tree)

    def cpu_s(self) -> float | None:
        """CPU seconds the server's process tree has used so far (None when it is not running);
        see bench.cpu for what counts."""
        process = self.target.process
        return tree_cpu_s(process.pid) if process is not None else None

    def crash_details(self) -> str:
        """Exit status and the tail of the server's output."""
        return self.target.crash_details()

    def stop(self) -> None:
        """Stop the process group and remove the working directory."""
        self.target.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RunningServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def _memory_of(process: psutil.Process) -> int:
    with contextlib.suppress(psutil.Error):
        try:
            return int(process.memory_full_info().pss)
        except (psutil.AccessDenied, AttributeError):
            return int(process.memory_info().rss)
    return 0


def launch(name: str, *, nofile: int) -> RunningServer:
    """Start the recipe called `name` and wait until it listens."""
    server = RunningServer(RECIPES[name], nofile=nofile)
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server
