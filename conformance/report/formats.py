"""The report files `h1check run` can write, by name: each a function from a run to its text."""

from __future__ import annotations

from collections.abc import Callable

from conformance.report import RunReport, html, json_report, junit

FILE_FORMATS: dict[str, Callable[[RunReport], str]] = {
    "json": json_report.render,
    "junit": junit.render,
    "html": html.render,
}
