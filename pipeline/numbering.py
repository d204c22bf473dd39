"""The numbering and layout marks of Chinese official documents (GB/T 9704-2012).

One home for the patterns that cleaning, segmentation and metadata detection all read:
heading levels (第X章 → 第X节 → 第X条, 一、 → （一） → 1. → （1） → ①), the attachment mark,
the 落款 date line and the 版记 (抄送 / 印发) lines.

``match_heading`` knows only marks that can never open a width-broken line, because the
cleaner uses it (through ``starts_block``) to refuse joins.  ``match_outline`` adds decimal
and English outline numbering, which the segmenter needs but which an English sentence may
well begin with ("Section 2 of the Act …"), so the cleaner must not see them.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import cn2an

CN_DIGITS = "一二三四五六七八九十百千零〇两"
_CN = f"[{CN_DIGITS}]+"

# Heading families, in hierarchy order.  The 1. pattern refuses decimals ("1.5万元") and dates.
HEADING_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("part", re.compile(rf"^第\s*({_CN}|\d+)\s*(?:部分|篇)")),  # 规划 are split into 第一部分 … or 第一篇 …
    ("chapter", re.compile(rf"^第\s*({_CN}|\d+)\s*章")),
    ("section", re.compile(rf"^第\s*({_CN}|\d+)\s*节")),
    ("article", re.compile(rf"^第\s*({_CN}|\d+)\s*条")),
    ("cn", re.compile(rf"^({_CN})\s*[、，]")),
    ("cn_paren", re.compile(rf"^[（(]\s*({_CN})\s*[）)]")),
    ("arabic", re.compile(r"^(\d{1,2})\s*(?:[\.．](?!\d)|、)")),
    ("arabic_close", re.compile(r"^(\d{1,2})\s*[)）]")),
    ("arabic_paren", re.compile(r"^[（(]\s*(\d{1,2})\s*[）)]")),
    ("circled_paren", re.compile(r"^([⑴-⒇])")),
    ("circled", re.compile(r"^([①-⑳])")),
)

# "1.1 发展成就", "2.3.1 Scope": a space must follow, and not a unit or a lower-case word
# ("1.5 万元", "1.5 million" are amounts, not headings).
DECIMAL = re.compile(
    r"^(\d{1,2}(?:[\.．]\d{1,2}){1,3})[\.．]?(?=[ \t\u3000]+[^\s\da-z万亿千百元%％‰倍个年月日]|[ \t\u3000]*$)"
)

# After the number: end of line, punctuation, or a capitalised title ("Article 3 Scope"),
# so that "Article 3 of the Act …" stays a sentence.
_EN_END = r"(?=[ \t]*$|[ \t]*[.:\-–—]|[ \t]+[A-Z(\"“])"
_EN_NUMBER = r"(\d{1,3}|[IVXLC]{1,7})"
ENGLISH_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("en_part", re.compile(rf"^(?:PART|Part)\s+{_EN_NUMBER}{_EN_END}")),
    ("en_chapter", re.compile(rf"^(?:CHAPTER|Chapter)\s+{_EN_NUMBER}{_EN_END}")),
    ("en_section", re.compile(rf"^(?:SECTION|Section|Sec\.|§)\s*(\d{{1,3}}){_EN_END}")),
    ("en_article", re.compile(rf"^(?:ARTICLE|Article|Art\.)\s+{_EN_NUMBER}{_EN_END}")),
    ("upper_roman", re.compile(r"^([IVXLC]{1,7})\.\s+(?=\S)")),
    ("upper_letter", re.compile(r"^([A-Z])\.\s+(?=[A-Z0-9(\"“])")),
    ("paren_roman", re.compile(r"^\(((?:x{0,3})(?:ix|iv|v?i{1,3}|v|x))\)")),
    ("paren_letter", re.compile(r"^\(([a-z])\)")),
    ("letter_close", re.compile(r"^([a-z])\)\s")),
)
# Single letters that are also Roman numerals: the segmenter decides from the siblings.
ROMAN_OR_LETTER = {"upper_roman": "upper_letter", "paren_roman": "paren_letter"}

# Where the usual hierarchy is beyond doubt: a family seen late (第一节 first met in the
# second chapter, （一） first met under 二、) still goes above the families it always heads.
# English Article and Section are left out: EU acts put sections above articles, US ones below.
CONVENTIONAL_LEVEL = {
    "part": 0, "en_part": 0, "chapter": 1, "en_chapter": 1, "section": 2, "article": 3,
    "cn": 4, "cn_paren": 5, "arabic": 6, "arabic_close": 7, "arabic_paren": 8, "circled_paren": 9, "circled": 10,
}

HEADING_FAMILIES = (
    tuple(name for name, _ in HEADING_PATTERNS)
    + ("decimal",)
    + tuple(name for name, _ in ENGLISH_PATTERNS)
)

ATTACHMENT_MARK = re.compile(r"^附\s*件\s*(\d*)\s*(?:[:：]|$)")
ATTACHMENT_NOTE = re.compile(r"^附\s*件\s*[:：]")  # 附件说明 at the end of the body
# An attachment's first line: 附件 / 附件2 / 附件二 alone, or with its title after a colon.
ATTACHMENT_START = re.compile(rf"^附\s*件\s*(\d{{1,2}}|{_CN})?\s*(?:[:：]\s*(.*))?$")
DATE_LINE = re.compile(
    rf"^\s*((?:19|20)\d{{2}}|[〇○零{CN_DIGITS}]{{4}})\s*年\s*(\d{{1,2}}|{_CN})\s*月\s*(\d{{1,2}}|{_CN})\s*日\s*$"
)
CC_LINE = re.compile(r"^\s*抄\s*送\s*[:：]")
PRINTED_LINE = re.compile(r"印\s*发\s*$")
NOTE_LINE = re.compile(r"^[（(]\s*(?:此件|本件)[^）)]{0,20}[）)]$")  # 附注: （此件公开发布）

_ROMAN = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}


@dataclass(frozen=True, slots=True)
class Heading:
    family: str  # one of HEADING_FAMILIES
    number: int  # the printed ordinal as an integer (the last part of a decimal number)
    marker: str  # the matched numbering text, e.g. "（二）"
    parts: tuple[int, ...] = ()  # every part of a decimal number: "2.3.1" → (2, 3, 1)


def roman_to_int(numeral: str) -> int:
    """"XIV" → 14 (either case); ValueError when it is not a Roman numeral."""
    values = [_ROMAN[c] for c in numeral.lower() if c in _ROMAN]
    if not values or len(values) != len(numeral):
        raise ValueError(f"not a Roman numeral: {numeral!r}")
    return sum(-v if i + 1 < len(values) and v < values[i + 1] else v for i, v in enumerate(values))


def to_int(numeral: str) -> int:
    """Printed ordinal to int: "十二" → 12, "⑶" → 3, "③" → 3, "12" → 12."""
    if numeral.isdigit() and numeral.isascii():
        return int(numeral)
    if len(numeral) == 1 and "⑴" <= numeral <= "⒇":
        return ord(numeral) - ord("⑴") + 1
    if len(numeral) == 1 and "①" <= numeral <= "⑳":
        return ord(numeral) - ord("①") + 1
    return int(cn2an.cn2an(numeral.replace("两", "二"), "smart"))


def _first_match(line: str, patterns: tuple[tuple[str, re.Pattern[str]], ...],
                 convert: Callable[[str, str], int]) -> Heading | None:
    for family, pattern in patterns:
        found = pattern.match(line)
        if found:
            try:
                number = convert(family, found.group(1))
            except ValueError:
                continue
            return Heading(family, number, found.group(0).strip())
    return None


def _english_int(family: str, numeral: str) -> int:
    if numeral.isdigit():
        return int(numeral)
    if family in ("paren_letter", "letter_close", "upper_letter"):
        return ord(numeral.lower()) - ord("a") + 1
    return roman_to_int(numeral)


def match_heading(line: str) -> Heading | None:
    """The numbering that opens ``line``, or None."""
    return _first_match(line.lstrip(), HEADING_PATTERNS, lambda _family, numeral: to_int(numeral))


def match_outline(line: str, *, english: bool = False) -> Heading | None:
    """Like ``match_heading``, plus decimal numbering ("1.1 ") and, when ``english``, the English
    outline marks (Chapter II, Article 3, Section 2, I., A., (a), (i), a))."""
    stripped = line.lstrip()
    decimal = DECIMAL.match(stripped)
    if decimal:
        parts = tuple(int(p) for p in re.split(r"[\.．]", decimal.group(1)))
        return Heading("decimal", parts[-1], decimal.group(0).strip(), parts)
    found = match_heading(stripped)
    if found or not english:
        return found
    return _first_match(stripped, ENGLISH_PATTERNS, _english_int)


def starts_block(line: str) -> bool:
    """True when ``line`` must never be glued to the line before it (numbering, 附件, 抄送, dates)."""
    stripped = line.strip()
    return bool(
        match_heading(stripped)
        or ATTACHMENT_MARK.match(stripped)
        or ATTACHMENT_START.match(stripped)
        or CC_LINE.match(stripped)
        or DATE_LINE.match(stripped)
        or stripped.startswith("#")
    )
