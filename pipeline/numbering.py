"""The numbering and layout marks of Chinese official documents (GB/T 9704-2012).

One home for the patterns that cleaning, segmentation and metadata detection all read:
heading levels (第X章 → 第X节 → 第X条, 一、 → （一） → 1. → （1） → ①), the attachment mark,
the 落款 date line and the 版记 (抄送 / 印发) lines.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import cn2an

CN_DIGITS = "一二三四五六七八九十百千零〇两"
_CN = f"[{CN_DIGITS}]+"

# Heading families, in hierarchy order.  The 1. pattern refuses decimals ("1.5万元") and dates.
HEADING_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("chapter", re.compile(rf"^第\s*({_CN}|\d+)\s*章")),
    ("section", re.compile(rf"^第\s*({_CN}|\d+)\s*节")),
    ("article", re.compile(rf"^第\s*({_CN}|\d+)\s*条")),
    ("cn", re.compile(rf"^({_CN})\s*[、，]")),
    ("cn_paren", re.compile(rf"^[（(]\s*({_CN})\s*[）)]")),
    ("arabic", re.compile(r"^(\d{1,2})\s*(?:[\.．](?!\d)|、)")),
    ("arabic_paren", re.compile(r"^[（(]\s*(\d{1,2})\s*[）)]")),
    ("circled_paren", re.compile(r"^([⑴-⒇])")),
    ("circled", re.compile(r"^([①-⑳])")),
)
HEADING_FAMILIES = tuple(name for name, _ in HEADING_PATTERNS)

ATTACHMENT_MARK = re.compile(r"^附\s*件\s*(\d*)\s*(?:[:：]|$)")
ATTACHMENT_NOTE = re.compile(r"^附\s*件\s*[:：]")  # 附件说明 at the end of the body
DATE_LINE = re.compile(
    rf"^\s*((?:19|20)\d{{2}}|[〇○零{CN_DIGITS}]{{4}})\s*年\s*(\d{{1,2}}|{_CN})\s*月\s*(\d{{1,2}}|{_CN})\s*日\s*$"
)
CC_LINE = re.compile(r"^\s*抄\s*送\s*[:：]")
PRINTED_LINE = re.compile(r"印\s*发\s*$")


@dataclass(frozen=True, slots=True)
class Heading:
    family: str  # one of HEADING_FAMILIES
    number: int  # the printed ordinal as an integer
    marker: str  # the matched numbering text, e.g. "（二）"


def to_int(numeral: str) -> int:
    """Printed ordinal to int: "十二" → 12, "⑶" → 3, "③" → 3, "12" → 12."""
    if numeral.isdigit() and numeral.isascii():
        return int(numeral)
    if len(numeral) == 1 and "⑴" <= numeral <= "⒇":
        return ord(numeral) - ord("⑴") + 1
    if len(numeral) == 1 and "①" <= numeral <= "⑳":
        return ord(numeral) - ord("①") + 1
    return int(cn2an.cn2an(numeral.replace("两", "二"), "smart"))


def match_heading(line: str) -> Heading | None:
    """The numbering that opens ``line``, or None."""
    stripped = line.lstrip()
    for family, pattern in HEADING_PATTERNS:
        found = pattern.match(stripped)
        if found:
            try:
                number = to_int(found.group(1))
            except ValueError:
                continue
            return Heading(family, number, found.group(0))
    return None


def starts_block(line: str) -> bool:
    """True when ``line`` must never be glued to the line before it (numbering, 附件, 抄送, dates)."""
    stripped = line.strip()
    return bool(
        match_heading(stripped)
        or ATTACHMENT_MARK.match(stripped)
        or CC_LINE.match(stripped)
        or DATE_LINE.match(stripped)
        or stripped.startswith("#")
    )
