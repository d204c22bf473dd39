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
    name = best.encoding.replace("-", "_").lower() if best else None
    if name in _ACCEPTED:
        encoding = _SUPERSETS.get(name, name)
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            pass
    raise InputError(
        path,
        "text is not UTF-8 and its encoding could not be detected reliably; save it as UTF-8 and re-run",
        code="text-undecodable",
    )


def read(path: str | Path) -> SourceText:
    path = Path(path)
    text, encoding = decode(path.read_bytes(), path)
    text = normalize(text).strip("\n")
    if not text.strip():
        raise InputError(path, "file has no text", code="file-empty")
    fmt = "md" if path.suffix.lower() in (".md", ".markdown") else "txt"
    return SourceText(path=str(path), source_format=fmt, text=text, encoding=encoding)
