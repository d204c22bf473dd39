"""Plain records exchanged between stages.

Every stage takes and returns these frozen dataclasses; none of them knows about the
database or the console.  Field names are the column names used by ``pipeline.db``.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version

LEVELS = ("national", "provincial", "municipal", "county")
KINDS = ("policy", "transcript")
ROLES = ("interviewer", "participant")
UNIT_CHOICES = ("item", "sentence")  # coding-unit granularity
PDF_ENGINES = ("pdfium", "pdfplumber")


@dataclass(frozen=True, slots=True)
class PageSpan:
    """Where one printed page lies in the canonical text (character offsets, end exclusive)."""

    number: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class SourceText:
    """What a reader gets out of one file: canonical text (UTF-8, NFC, LF) and its page map."""

    path: str
    source_format: str  # pdf, docx, txt, md, html
    text: str
    pages: tuple[PageSpan, ...] = ()
    page_count: int = 0
    encoding: str | None = None  # for decoded text files; PDF and DOCX carry no text encoding
    # lines removed as running headers/footers; the first one often is the 发文机关标志
    running_headers: tuple[str, ...] = ()
    pages_without_text: tuple[int, ...] = ()  # scanned pages inside an otherwise textual PDF


@dataclass(frozen=True, slots=True)
class PolicyMetadata:
    """Metadata of a policy document, detected from its text or given by the sidecar."""

    title: str | None = None
    doc_number: str | None = None  # 发文字号, e.g. 浙政办发〔2023〕12号
    issuer: str | None = None  # lead issuing body; joint issuers separated by "、"
    date: str | None = None  # ISO yyyy-mm-dd (成文日期)
    level: str | None = None  # one of LEVELS
    province: str | None = None
    city: str | None = None
    county: str | None = None
    # why the level is what it is, or why it could not be decided (e.g. "ambiguous: 宁政发 …")
    level_evidence: str | None = None
    level_ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class Clause:
    """One coding unit of a policy document.

    ``path`` is the printed numbering below the document, e.g. ``"3-2"`` for 三、(二);
    the project-wide unit id prefixes it with the document number (``"7-3-2"``).
    Attachment units start with ``A<n>`` (``"A1-2"``).
    """

    path: str
    heading: str  # the run-in heading or the numbered heading line, "" when none
    heading_path: tuple[str, ...]  # headings of the enclosing levels, outermost first
    text: str
    start: int
    end: int
    page: int | None = None
    section: str = "body"  # body | attachment


@dataclass(frozen=True, slots=True)
class Turn:
    """One speaker turn of an interview transcript."""

    number: int  # 1-based position in the transcript
    speaker: str
    role: str  # interviewer | participant
    text: str
    start: int
    end: int
    timestamp: str | None = None  # "00:01:23" when the transcript has one


@dataclass(frozen=True, slots=True)
class Document:
    """A fully read document: text, metadata and its units, ready to be stored."""

    path: str  # as given relative to the project when possible
    content_hash: str  # sha256 of the file's bytes
    kind: str  # policy | transcript
    source: SourceText
    metadata: PolicyMetadata
    language: str  # zh | en
    clauses: tuple[Clause, ...] = ()
    turns: tuple[Turn, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)  # kind-independent: group, participant, role …


@dataclass(frozen=True, slots=True)
class Problem:
    """A file that could not be (fully) ingested, with a short stable code."""

    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a unit's text; ``text == unit_text[start:end]`` (character offsets, end exclusive).

    Whitespace is never a token.  ``norm`` is lower-cased for English and the text itself for
    Chinese.  ``is_stop`` flags stop words (they are kept, so a stop-word switch needs no
    re-tokenizing); ``is_punct`` flags tokens without a letter: punctuation, symbols and numbers,
    which word statistics drop.
    """

    start: int
    end: int
    text: str
    norm: str
    is_stop: bool
    is_punct: bool


def utc_now() -> str:
    """When human work and runs are recorded (UTC, to the second)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@functools.cache  # reading source is slow, and code does not change within a process
def code_digest(*functions: Callable) -> str:
    """A digest of the source of ``functions``: an entry kept for a later run, made by them, stands
    only while their code is the same (the policoder version where the source cannot be read)."""
    hasher = hashlib.sha256()
    for function in functions:
        try:
            hasher.update(inspect.getsource(function).encode())
        except (OSError, TypeError):
            hasher.update(version("policoder").encode())
    return hasher.hexdigest()
