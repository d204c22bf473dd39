"""HTML pages saved from government websites → the article's canonical text.

Such pages wrap the document in navigation, breadcrumbs and a footer.  The article is the
block with the most text that is not link text (low link density), which is how
readability-style extractors find it; site chrome is mostly links.
"""
from __future__ import annotations

from pathlib import Path

from bs4 import BeautifulSoup

from ..clean import normalize
from ..errors import InputError
from ..records import SourceText
from .text import decode

_CHROME = ("script", "style", "nav", "header", "footer", "noscript", "form", "iframe", "aside")
_BLOCKS = ("article", "main", "section", "div", "td")
_MAX_LINK_DENSITY = 0.3
_LINE_BLOCKS = ("p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "section", "article",
                "blockquote", "pre", "dt", "dd", "ul", "ol")
_SHARE_OF_ARTICLE = 0.85


def _lengths(element) -> tuple[int, int]:
    """Characters of text, and of those the characters inside links."""
    text = len(element.get_text(strip=True))
    links = sum(len(a.get_text(strip=True)) for a in element.find_all("a"))
    return text, links


def _article(soup: BeautifulSoup):
    """The smallest block holding nearly all of the page's non-link text."""
    body = soup.body or soup
    candidates = []
    for element in body.find_all(_BLOCKS):
        text, links = _lengths(element)
        if text and links / text <= _MAX_LINK_DENSITY:
            candidates.append((text - links, text, element))
    if not candidates:
        return body
    most = max(own for own, _, _ in candidates)
    eligible = [c for c in candidates if c[0] >= _SHARE_OF_ARTICLE * most]
    # the document's title is often a heading just outside the body's own block: keep it in
    title = body.find("h1") or body.find("h2")
    with_title = [c for c in eligible if title is not None and title in c[2].descendants]
    # wrappers add breadcrumbs and footers; the article itself is the smallest such block
    return min(with_title or eligible, key=lambda c: c[1])[2]


def read(path: str | Path) -> SourceText:
    path = Path(path)
    markup, encoding = decode(path.read_bytes(), path)
    soup = BeautifulSoup(markup, "lxml")
    for element in soup.find_all(_CHROME):
        element.decompose()
    article = _article(soup)
    for br in article.find_all("br"):
        br.replace_with("\n")
    # only block elements end a line; inline markup (<span>第二条</span>, <a>2025</a>) is part of it
    for block in article.find_all(_LINE_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    for cell in article.find_all(("td", "th")):  # a table row is one line, cells split by tabs, as from DOCX
        if cell.find_previous_sibling(("td", "th")):
            cell.insert_before("\t")
    text = normalize(article.get_text(""))
    text = "\n".join(line.strip() for line in text.split("\n") if line.strip())
    if not text:
        raise InputError(path, "page has no text", code="file-empty")
    return SourceText(path=str(path), source_format="html", text=text, encoding=encoding)
