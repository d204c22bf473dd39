"""Plain text and Markdown: detect the encoding, never mangle it silently."""
from __future__ import annotations

import codecs
from pathlib import Path

from charset_normalizer import from_bytes

from ..clean import normalize
from ..errors import InputError
from ..records import SourceText

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Legacy Chinese encodings are decoded with their widest superset so that no character is lost.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "hz": "gb18030", "big5": "big5hkscs", "cp950": "big5hkscs"}
# what charset-normalizer may answer for Chinese or plain text; anything else is rejected
_MIN_COMMON_SHARE = 0.6
_ACCEPTED = {"utf_8", "utf_16", "utf_16_le", "utf_16_be", "utf_32", "gb18030", "gb2312", "gbk", "cp936", "big5", "big5hkscs", "cp950", "ascii", "hz"}


def decode(data: bytes, path: str | Path) -> tuple[str, str]:
    """Bytes → (text, encoding name).  Raises InputError(text-undecodable) when unsure."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding), encoding.replace("-sig", "") + " (BOM)"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data).best()
    guess = best.encoding.replace("-", "_").lower() if best else None
    guesses = [_SUPERSETS.get(guess, guess)] if guess in _ACCEPTED else []
    # charset-normalizer alone confuses short GBK text with Big5 ("企业" → "き珛"): decode with
    # each Chinese codec and keep the reading made of the most common characters
    readings = {}
    for encoding in dict.fromkeys([*guesses, "gb18030", "big5hkscs"]):
        try:
            readings[encoding] = data.decode(encoding)
        except UnicodeDecodeError:
            continue
    if readings:
        encoding = max(readings, key=lambda e: (_common_share(readings[e]), e == "gb18030"))
        if _common_share(readings[encoding]) >= _MIN_COMMON_SHARE:
            return readings[encoding], encoding
    raise InputError(
        path,
        "text is not UTF-8 and its encoding could not be detected reliably; save it as UTF-8 and re-run",
        code="text-undecodable",
    )


def _is_common(char: str) -> bool:
    """One of the ~3,755 most used simplified (GB2312 level 1) or ~5,400 traditional (Big5 常用字) characters."""
    try:
        if 0xB0 <= char.encode("gb2312")[0] <= 0xD7:
            return True
    except UnicodeEncodeError:
        pass
    try:
        return b"\xa4\x40" <= char.encode("big5") <= b"\xc6\x7e"
    except UnicodeEncodeError:
        return False


def _common_share(text: str) -> float:
    """Share of common Han characters among the non-ASCII letters: near 1 for a right reading."""
    letters = [c for c in text if not c.isascii() and c.isalpha()]
    if not letters:
        return 1.0 if text.isascii() else 0.0
    return sum(map(_is_common, letters)) / len(letters)


def read(path: str | Path) -> SourceText:
    path = Path(path)
    text, encoding = decode(path.read_bytes(), path)
    text = normalize(text).strip("\n")
    if not text.strip():
        raise InputError(path, "file has no text", code="file-empty")
    fmt = "md" if path.suffix.lower() in (".md", ".markdown") else "txt"
    return SourceText(path=str(path), source_format=fmt, text=text, encoding=encoding)
