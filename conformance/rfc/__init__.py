"""The text of RFC 9110 (HTTP Semantics) and RFC 9112 (HTTP/1.1), paragraph by paragraph.

Every scenario quotes, verbatim, the sentence it enforces from one section of these RFCs. The
catalogue's tests hold each quote to the text here, and a report can show the quote where it
stands: in its paragraph, between the paragraphs around it.

Each file holds one paragraph per line, prefixed with its anchor:
`[rfc.section.9.6.p.6] A server that receives a "close" connection option MUST ...¶`.
Section headings (`[rfc.section.9.6] 9.6. Tear-down`) are not paragraphs. README.md in this
directory says where the texts come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import NamedTuple

BUNDLED = (9110, 9112)

_PARAGRAPH = re.compile(r"^\[rfc\.section\.([\w.-]+?)\.p\.(\d+)\] (.*?)¶?$", re.MULTILINE)
_CITATION = re.compile(r"RFC (\d+) §([\w.-]+)")


class Paragraph(NamedTuple):
    """One paragraph: its section ("9.6"), its place in that section (from 1), and its text."""

    section: str
    number: int
    text: str


@dataclass(frozen=True)
class Passage:
    """A paragraph that holds a quote, with the paragraphs of its section just around it."""

    before: tuple[Paragraph, ...]
    paragraph: Paragraph
    after: tuple[Paragraph, ...]


@cache
def paragraphs(rfc: int) -> tuple[Paragraph, ...]:
    """Every paragraph of a bundled RFC, in the order of the document."""
    if rfc not in BUNDLED:
        bundled = " and ".join(f"RFC {number}" for number in BUNDLED)
        raise LookupError(f"RFC {rfc} is not bundled here (only {bundled})")
    text = resources.files(__name__).joinpath(f"rfc{rfc}.txt").read_text(encoding="utf-8")
    return tuple(
        Paragraph(section, int(number), body) for section, number, body in _PARAGRAPH.findall(text)
    )


def passage(citation: str, quote: str, around: int = 1) -> Passage | None:
    """Where `quote` stands in the section `citation` names ("RFC 9112 §9.6"), or None.

    The quote must appear verbatim within one paragraph of that very section; `around`
    paragraphs of the same section on each side come with it.
    """
    cited = _CITATION.fullmatch(citation)
    if cited is None:
        raise ValueError(f"not a citation like 'RFC 9112 §9.6': {citation!r}")
    rfc, section = int(cited.group(1)), cited.group(2)
    in_section = [paragraph for paragraph in paragraphs(rfc) if paragraph.section == section]
    for index, paragraph in enumerate(in_section):
        if quote in paragraph.text:
            before = tuple(in_section[max(0, index - around) : index])
            after = tuple(in_section[index + 1 : index + 1 + around])
            return Passage(before, paragraph, after)
    return None
