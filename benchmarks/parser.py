"""Request heads per second for each reader in PARSERS, on the GET head a browser typically sends.

A benchmark, not a test: it prints numbers and asserts nothing about them. Each reader reads one
head after another on one connection, as on a keep-alive connection, once with each head in a
single read and once with each head in two reads cut in its middle. Run from a checkout:
`python benchmarks/parser.py [--seconds 2]`.
"""

from __future__ import annotations

import argparse
import time

from reference.fastparser import PARSERS
from reference.limits import Limits
from reference.parser import Reader

#: What Firefox sends for a page typed into the address bar.
BROWSER_GET = (
    b"GET /index.html HTTP/1.1\r\n"
    b"Host: localhost:7890\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.5\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Connection: keep-alive\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"Sec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Sec-Fetch-Site: none\r\n"
    b"Sec-Fetch-User: ?1\r\n"
    b"Priority: u=0, i\r\n"
    b"\r\n"
)


def heads_per_second(reader_class: type[Reader], reads: list[bytes], seconds: float) -> float:
    """How many heads, each arriving as `reads`, one reader takes per second."""
    reader = reader_class(Limits())
    heads = 0
    started = now = time.perf_counter()
    while now - started < seconds:
        for _ in range(200):
            for data in reads:
                reader.feed(data)
                head = reader.next_head()
            assert head is not None and reader.discard_body()
        heads += 200
        now = time.perf_counter()
    return heads / (now - started)


def main() -> None:
    """Print heads per second for every reader, whole and in two reads."""
    arguments = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arguments.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    seconds = arguments.parse_args().seconds
    middle = len(BROWSER_GET) // 2
    shapes = {"whole": [BROWSER_GET], "2 reads": [BROWSER_GET[:middle], BROWSER_GET[middle:]]}
    print(f"a {len(BROWSER_GET)}-byte browser GET head, heads per second")
    print(f"{'reader':8}" + "".join(f"{shape:>12}" for shape in shapes))
    for name, reader_class in PARSERS.items():
        rates = [heads_per_second(reader_class, reads, seconds) for reads in shapes.values()]
        print(f"{name:8}" + "".join(f"{rate:>12,.0f}" for rate in rates))


if __name__ == "__main__":
    main()
