"""Canonical text: Unicode NFC, LF line ends, no page furniture, no width-broken lines.

Readers hand over pages of ``Line``s; ``clean_pages`` removes running headers/footers and
page numbers, re-joins lines that the page width broke, and keeps a page map so every
clause can later say which page it is on.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from .numbering import DATE_LINE, starts_block
from .records import PageSpan

# zero-width characters, the BOM and C0 controls (other than tab and line ends) never carry
# meaning in policy text, and spreadsheets refuse the controls
_INVISIBLE = dict.fromkeys(
    [*map(ord, "\u200b\u200c\u200d\u2060\ufeff"), *(c for c in range(32) if chr(c) not in "\t\n\r")], None
)
_PAGE_NUMBER = re.compile(
    r"^[\s\-—－–_·•]*(?:\d{1,4}|[ivxlcIVXLC]{1,6})[\s\-—－–_·•]*$"
    r"|^第\s*\d{1,4}\s*页\s*(?:[,，/]?\s*共\s*\d{1,4}\s*页)?$"
    r"|^(?:page|Page|PAGE)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$"
    r"|^\d{1,4}\s*/\s*\d{1,4}$"
)
_NOT_CANONICAL = re.compile("[" + "".join(map(chr, _INVISIBLE)) + "\u2028\r]")
_DIGITS = re.compile(r"\d+")
_CJK = re.compile(r"[\u3400-\u9fff]")
# pages reposted with reading aids gloss characters with pinyin: 关(guān)于, 的(de); a gloss with a tone
# mark is never policy text, and once a text has those its toneless ones (de, me) are glosses too
_TONED = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ"
_PINYIN_GLOSS = re.compile(rf"(?<=[\u3400-\u9fff])[(（][a-zü]{{0,5}}[{_TONED}][a-zü{_TONED}]{{0,5}}[)）]")
_TONELESS_GLOSS = re.compile(r"(?<=[\u3400-\u9fff])[(（][a-zü]{1,6}[)）]")
# a line ending in these closes a sentence or introduces a list: never glue the next line on
_CLOSING = tuple("。！？；：:;!?」』”")
EDGE_LINES = 2  # header/footer candidates: this many lines at the top and bottom of a page
HEADER_MAX_CHARS = 40


@dataclass(frozen=True, slots=True)
class Line:
    """One printed line (PDF only: whether it runs to the right margin, whether it is indented)."""

    text: str
    full_width: bool = False
    indented: bool = False


def normalize(text: str) -> str:
    """NFC, LF line ends, invisible characters and pinyin glosses removed, trailing spaces trimmed."""
    text = strip_pinyin_glosses(unicodedata.normalize("NFC", text.translate(_INVISIBLE)))
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    return "\n".join(line.rstrip() for line in text.split("\n"))


def strip_pinyin_glosses(text: str) -> str:
    """国务(wù)院关(guān)于 → 国务院关于: pinyin after a character is a reading aid, not text."""
    stripped, glosses = _PINYIN_GLOSS.subn("", text)
    return _TONELESS_GLOSS.sub("", stripped) if glosses else text


def _is_canonical(text: str) -> bool:
    return (unicodedata.is_normalized("NFC", text) and not _NOT_CANONICAL.search(text)
            and not _PINYIN_GLOSS.search(text))


def is_page_number(line: str) -> bool:
    return bool(_PAGE_NUMBER.match(line.strip()))


def _furniture_key(line: str) -> str:
    # headers that carry the page number ("XX文件 第3页") still repeat once digits are masked
    return _DIGITS.sub("#", line.strip())


def running_furniture(pages: list[list[Line]]) -> set[str]:
    """Keys of short lines that repeat at the top or bottom of at least half the pages (≥ 2)."""
    if len(pages) < 2:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        lines = [line for line in page if line.text.strip()]
        # the tail of a paragraph broken at the margin is body text, however often it repeats
        # headers are short centred lines: never width-broken text or a paragraph's tail
        texts = [line.text for previous, line in zip([None, *lines], lines)
                 if not line.full_width and (previous is None or not previous.full_width)]
        edges = set(texts[:EDGE_LINES] + texts[-EDGE_LINES:])
        seen.update(
            _furniture_key(t) for t in edges if len(t.strip()) <= HEADER_MAX_CHARS and not is_page_number(t)
        )
    needed = max(2, (len(pages) + 1) // 2)
    return {key for key, count in seen.items() if count >= needed}


def _joins(previous: str, following: str, *, previous_full_width: bool, following_indented: bool) -> bool:
    """Was the break between these two lines made by the page width rather than the author?"""
    return (
        previous_full_width
        and not following_indented
        and bool(previous)
        and not previous.endswith(_CLOSING)
        and not DATE_LINE.match(previous)  # a 落款 date that reaches the margin ends the line
        and not starts_block(following)
    )


def _glue(previous: str, following: str) -> str:
    # Latin words take a space at a line break; Chinese never does, digits inside it neither ("5|0万元")
    latin = previous[-1:].isascii() and previous[-1:].isalnum() and following[:1].isascii() and following[:1].isalnum()
    return " " if latin and not _CJK.search(previous[-40:]) else ""


def clean_pages(pages: list[list[Line]]) -> tuple[str, tuple[PageSpan, ...], tuple[str, ...]]:
    """Join pages into canonical text.

    Returns the text, the page map and the removed running header/footer lines (first
    occurrence of each, in page order: the first is often the 发文机关标志).
    """
    furniture = running_furniture(pages)
    removed: list[str] = []
    removed_keys: set[str] = set()
    out: list[str] = []  # finished lines of the canonical text
    spans: list[PageSpan] = []
    length = 0  # characters in "\n".join(out)
    carry_full_width = False
    for number, page in enumerate(pages, start=1):
        page_start = None
        texts = [line for line in page if line.text.strip()]
        # most pages are clean already: check the page once instead of normalising every line
        clean = _is_canonical("\n".join(line.text for line in texts))
        last = len(texts) - 1
        for position, line in enumerate(texts):
            text = line.text.strip() if clean else normalize(line.text).strip()
            if position < EDGE_LINES or position > last - EDGE_LINES:
                if is_page_number(text):
                    continue
                key = _furniture_key(text)
                if key in furniture:
                    if key not in removed_keys:
                        removed_keys.add(key)
                        removed.append(text)
                    continue
            if out and _joins(out[-1], text, previous_full_width=carry_full_width, following_indented=line.indented):
                glue = _glue(out[-1], text)
                out[-1] += glue + text
                length += len(glue) + len(text)
                if page_start is None:
                    page_start = length - len(text)
            else:
                if out:
                    length += 1  # the "\n" before this line
                if page_start is None:
                    page_start = length
                out.append(text)
                length += len(text)
            carry_full_width = line.full_width
        if page_start is None:
            page_start = length
        spans.append(PageSpan(number, page_start, length))
    return "\n".join(out), tuple(spans), tuple(removed)
