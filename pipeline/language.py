"""Language of a text, Chinese or English, from the letters it is written in.

Shared by ingestion (a document's language) and tokenization (each unit's, when not given).
"""
from __future__ import annotations

import re

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
SAMPLE = 20000  # characters looked at: enough to decide, cheap for a whole document


def detect_language(text: str) -> str:
    """'zh' when Chinese characters make up at least a fifth of the letters, else 'en'."""
    sample = text[:SAMPLE]
    if not _LATIN.search(sample):  # most Chinese units: nothing to count
        return "zh" if _CJK.search(sample) else "en"
    cjk, latin = len(_CJK.findall(sample)), len(_LATIN.findall(sample))
    return "zh" if cjk and cjk * 5 >= cjk + latin else "en"
