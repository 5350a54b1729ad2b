"""python -m reference: serve a directory over HTTP/1.1 with a chosen concurrency backend."""

from __future__ import annotations

import argparse
import os
import sys

from reference.backends import BACKENDS, BackendError
from reference.fastparser import PARSERS
from reference.limits import Limits
from reference.server import ServerOptions, StartupError, configure_logging, run
from reference.site import Site


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m reference",
        description="The h1check reference static-file server.",
    )
    parser.add_argument(
        "--backend",
        default="epoll",
        help=f"concurrency model: {', '.join(BACKENDS)}, or module:Class (default: epoll)",
    )
    parser.add_argument(
        "--parser",
        choices=list(PARSERS),
        default="fast",
        help="request parser: fast, or h11, the slower one it is checked against (default: fast)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=7890, help="0 picks a free port")
    parser.add_argument("--root", default="html", help="document root (default: ./html)")
    parser.add_argument("--workers", type=int, default=1, help="prefork N worker processes")
    parser.add_argument("--idle-timeout", type=float, default=Limits.idle_timeout)
    parser.add_argument("--head-timeout", type=float, default=Limits.head_timeout)
    parser.add_argument("--send-timeout", type=float, default=Limits.send_timeout)
    parser.add_argument("--max-request-line", type=int, default=Limits.max_request_line)
    parser.add_argument("--max-head", type=int, default=Limits.max_head)
    parser.add_argument("--max-fields", type=int, default=Limits.max_fields)
    parser.add_argument("--verbose", action="store_true", help="log connections ending early")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the server; returns the process exit status."""
    arguments = parse_arguments(argv)
    configure_logging(arguments.verbose)
    root = os.path.realpath(arguments.root)
    if not os.path.isdir(root):
        print(f"error: document root {arguments.root!r} is not a directory", file=sys.stderr)
        return 2
    if arguments.workers < 1 or not 0 <= arguments.port <= 65535:
        print("error: --workers must be at least 1 and --port within 0-65535", file=sys.stderr)
        return 2
    limits = Limits(
        idle_timeout=arguments.idle_timeout,
        head_timeout=arguments.head_timeout,
        send_timeout=arguments.send_timeout,
        max_request_line=arguments.max_request_line,
        max_head=arguments.max_head,
        max_fields=arguments.max_fields,
    )
    options = ServerOptions(arguments.backend, arguments.host, arguments.port, arguments.workers)
    try:
        return run(options, Site(root, limits, parser=arguments.parser))
    except (BackendError, StartupError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
