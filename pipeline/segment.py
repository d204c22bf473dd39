"""Coding units of a policy document, numbered the way the document numbers itself.

In: the canonical text of one document (one paragraph per line) and its page map.
Out: ``Clause`` records with a path of printed ordinals ("3-2" for 三、(二), "2-12" for
第二章 第十二条), the enclosing headings, exact character offsets and the page.

The text falls into four parts (GB/T 9704-2012): the head (发文机关标志, 文号, 标题, 主送机关)
and the tail (附件说明, 落款, 附注, 版记) give no units; the body and every attachment do.

Rules a coder can rely on:
- the leaf numbered items are the units; an item with sub-items is a unit too when it has
  text of its own before them (a lead-in such as "应当具备下列条件：");
- unnumbered paragraphs after a heading belong to it (a regulation's 款).  When such a
  paragraph follows a list that its item introduced with "：", the item is split into 款 and
  numbered like a legal citation: 第十八条第二款第（三）项 → "3-18-2-3";
- paragraphs before the first heading are the preamble: "0", or "0-1", "0-2" …;
- heading families take their depth from the order in which they first appear, so a
  notice that skips （一） and goes 一、 → 1. still gets "3-2"; a family first met late goes
  above the families it always heads (第一节 first met in 第二章, under 第一条 … 第五条);
- printed numbers are kept while they increase; a repeated or backward number falls back to
  counting on from its previous sibling, so paths never repeat within a document;
- attachments are numbered "A1", "A2" … and segmented like the body ("A1-2-1"); an
  attachment without any numbering (a name list, a table) is one unit "A1", because a coder
  codes the attachment, not each of its rows;
- a 令 prints its promulgation and date before the regulation: the text after the date is
  the body then, and the promulgation belongs to the head.

``unit="sentence"`` splits each unit on 。！？； (and English full stops) outside brackets,
quotes and 《》; pieces under six characters join the sentence before them.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from .numbering import (
    ATTACHMENT_NOTE,
    ATTACHMENT_START,
    CC_LINE,
    CONVENTIONAL_LEVEL,
    DATE_LINE,
    NOTE_LINE,
    PRINTED_LINE,
    ROMAN_OR_LETTER,
    Heading,
    match_outline,
    to_int,
)
from .records import UNIT_CHOICES as UNITS, Clause, PageSpan


HEAD_MAX_LINES = 12  # 份号 … 主送机关 never take more lines than this
HEAD_LINE_MAX_CHARS = 80  # longer lines are paragraphs, not titles
HEAD_LINE_MAX_WORDS = 25  # the same for English titles
ORGAN_LINE_MAX_CHARS = 30  # a 落款 organ name
BARE_HEADING_MAX_CHARS = 40
RUN_IN_LABEL_MAX_CHARS = 20
MIN_SENTENCE_CHARS = 6

_MARKDOWN = re.compile(r"^(#{1,6})\s+(.*?)\s*#*$")
_COMMENT = re.compile(r"^<!--.*-->$")
# a table-of-contents entry: its numbering is not the item, the item comes later
_CONTENTS = re.compile(r"(?:\.{4,}|…{2,}|·{4,}|．{4,})\s*\d{0,4}$")
_TERMINAL = tuple("。！？；.!?;")
_SENTENCE_MARKS = re.compile(r"[。；！？;!?]")
# 题注 under a law's title: "2010年7月30日 …第十六次会议修正", often in brackets
_ADOPTION = re.compile(r"^[（(]?\s*(?:19|20)\d{2}\s*年[^。]*(?:通过|批准|修正|修订|公布|施行|发布|印发)[）)]?$")
_NOT_ADDRESSEE = re.compile(r"如下|根据|按照|为了|为贯彻|为进一步|为深入|为加快|现将|现就|通知|意见|规定")
_LISTED = re.compile(r"^(?:\d{1,2}|[一二三四五六七八九十])\s*[.．、]\s*")  # an entry of a 附件说明: "2."
_TITLE_MARKS = re.compile(r"[《》\s]")
_ORGAN_PUNCTUATION = re.compile(r"[，,。；;：:！？!?、（）()《》]")
_DATED = re.compile(r"(?:\d{4}|[〇○零一二三四五六七八九]{4})\s*年.*月.*日")  # 版记's 印发 line
_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]")
_ENGLISH_DATE = re.compile(
    r"^(?:\d{1,2}\s+)?(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r"(?:\s+\d{1,2},?)?\s+(?:19|20)\d{2}$"
)
_ENGLISH_ADDRESSEE = re.compile(r"^(?:To|Dear)\b.*[:,]$")
_ENGLISH_ATTACHMENT = re.compile(r"^(?:ANNEX|Annex|APPENDIX|Appendix|ATTACHMENT|Attachment|SCHEDULE|Schedule)"
                                 r"\s+([A-Z]|\d{1,2}|[IVX]{1,4})\b[.:\s—–-]*(.*)$")
_ARTICLE_REFERENCE = re.compile(r"第|规定|所")  # "第三条规定的…" opens a 款, it does not start 第三条

_OPENERS = "（([【「『“‘《〈{"
_CLOSERS = "）)]】」』”’》〉}"
_ABBREVIATIONS = {"no", "art", "sec", "para", "e.g", "i.e", "etc", "vs", "mr", "mrs", "ms", "dr", "prof", "st",
                  "fig", "cf", "al", "ltd", "inc", "co", "jr", "sr", "u.s", "p", "pp", "vol", "ch"}


@dataclass(frozen=True, slots=True)
class _Line:
    start: int  # offset of the first non-space character
    end: int  # offset after the last non-space character
    text: str


@dataclass(slots=True)
class _Run:
    """Consecutive lines of one item's own text."""

    lines: list[_Line]


@dataclass(slots=True)
class _Node:
    """A numbered item while the tree is built; the root of a part has no heading."""

    key: str = ""  # family (with depth for decimals and Markdown), "" for the root
    order: tuple[int, ...] = ()  # printed number(s), for the sibling order check
    component: str = ""  # how the printed number appears in the path
    display: str = ""  # as shown in heading_path: "第二章 总则", "（一）目标任务", "第十八条"
    label: str = ""  # the run-in or bare heading text, "" when none
    summary: str = ""  # a one-sentence item's text: its label once sub-items show it is a heading
    bare: bool = False  # the heading line holds no text of its own
    lead: int = 0  # characters of the heading line that can never end a sentence alone
    list_item: bool = False  # one sentence ending like a list entry: "（二）有合格的教师；"
    content: list = field(default_factory=list)  # _Run and _Node, in text order


@dataclass(frozen=True, slots=True)
class _Unit:
    path: tuple[str, ...]
    heading: str
    heading_path: tuple[str, ...]
    start: int
    end: int
    section: str
    lead: int = 0


@dataclass(slots=True)
class _Part:
    lines: list[_Line]
    number: int | None = None  # printed attachment number; None for the body or an unnumbered 附件
    title: str = ""
    mark: str = ""  # the attachment's mark line, "附件1"


def segment_policy(text: str, *, pages: tuple[PageSpan, ...] = (), unit: str = "item") -> tuple[Clause, ...]:
    """The coding units of one policy document (see the module docstring for the rules).

    ``unit="item"`` gives one unit per numbered item, ``unit="sentence"`` splits every item
    into sentences and adds their index to the path ("3-2-1").  ``text[c.start:c.end]`` is
    always ``c.text``.
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(map(repr, UNITS))}, not {unit!r}")
    english = _is_english(text)
    lines = _lines(text)
    body, attachments = _parts(lines[_head_end(lines, english):], english)
    units = _units_of_body(body, english)
    last = 0
    for part in attachments:
        # a repeated or missing 附件 number counts on, like any broken numbering
        number = part.number if part.number is not None and part.number > last else last + 1
        last = number
        units.extend(_units_of_attachment(part, f"A{number}", english))
    if unit == "sentence":
        units = [piece for found in units for piece in _sentences(text, found)]
    starts = [span.start for span in pages]
    return tuple(
        Clause(
            path="-".join(found.path),
            heading=found.heading,
            heading_path=found.heading_path,
            text=text[found.start:found.end],
            start=found.start,
            end=found.end,
            page=pages[bisect.bisect_right(starts, found.start) - 1].number
            if pages and found.start >= starts[0] else None,
            section=found.section,
        )
        for found in units
    )


# ---------------------------------------------------------------- reading lines

def _is_english(text: str) -> bool:
    # one Chinese character carries about as much as a short English word
    return len(_LATIN.findall(text)) > 4 * len(_CJK.findall(text))


def _lines(text: str) -> list[_Line]:
    """Non-blank lines with the offsets of their visible text."""
    found = []
    offset = 0
    for raw in text.split("\n"):
        stripped = raw.strip()
        if stripped:
            start = offset + len(raw) - len(raw.lstrip())
            found.append(_Line(start, start + len(stripped), stripped))
        offset += len(raw) + 1
    return found


def _is_addressee(line: str) -> bool:
    """The 主送机关 line: "各市、县（市、区）人民政府，省直各单位：" (not "现通知如下：")."""
    if _ENGLISH_ADDRESSEE.match(line):
        return "." not in line[:-1]
    return (
        line.endswith(("：", ":"))
        and len(line) <= 150
        and "。" not in line
        and bool(_CJK.search(line))
        and not _NOT_ADDRESSEE.search(line)
    )


def _head_like(line: str) -> bool:
    """发文机关标志, 文号, title, 签发人, a web page's date line: short, and no sentence."""
    short = len(line) <= HEAD_LINE_MAX_CHARS or (not _CJK.search(line) and len(line.split()) <= HEAD_LINE_MAX_WORDS)
    return short and not line.endswith(_TERMINAL + ("：", ":")) and "。" not in line


def _date_line(text: str) -> bool:
    """The 成文日期 of the 落款: "2024年3月15日", "二〇一九年九月二十六日", "June 3, 2024"."""
    return bool(DATE_LINE.match(text) or _ENGLISH_DATE.match(text))


def _head_end(lines: list[_Line], english: bool) -> int:
    """Index of the first line of the body."""
    for index, line in enumerate(lines[:HEAD_MAX_LINES]):
        text = line.text
        markdown = _MARKDOWN.match(text)
        if markdown:
            # only a first-level title at the very top belongs to the head
            if len(markdown.group(1)) == 1 and index == 0 and not match_outline(markdown.group(2), english=english):
                continue
            return index
        if _COMMENT.match(text) or _ADOPTION.match(text):
            continue
        if match_outline(text, english=english):
            return index
        if _is_addressee(text):
            return index + 1
        if not _head_like(text):
            return index
    # no body in sight within the first lines (a bare list): only a title line is head
    return 1 if lines and _head_like(lines[0].text) else 0


def _attachment_start(text: str, english: bool) -> tuple[bool, int | None, str] | None:
    """(numbered or bare, printed number, title) when ``text`` looks like an attachment's first line."""
    found = ATTACHMENT_START.match(text)
    if found:
        number = to_int(found.group(1)) if found.group(1) else None
        # "附件：1. …" and "附件：…名单" are the 附件说明 before the 落款; "附件" / "附件2" open one
        return found.group(1) is not None or found.group(2) is None, number, (found.group(2) or "").strip()
    found = _ENGLISH_ATTACHMENT.match(text) if english else None
    if found and len(text) <= HEAD_LINE_MAX_CHARS and not text.endswith("."):
        numeral = found.group(1)
        number = int(numeral) if numeral.isdigit() else None
        return True, number, found.group(2).strip()
    return None


def _signs_off(text: str) -> bool:
    """落款 date or 版记: after these lines the body is over."""
    return bool(_date_line(text) or CC_LINE.match(text) or (PRINTED_LINE.search(text) and _DATED.search(text)))


def _parts(lines: list[_Line], english: bool) -> tuple[_Part, list[_Part]]:
    """Split what follows the head into the body and the attachments (tails still included)."""
    body = _Part([])
    attachments: list[_Part] = []
    current = body
    signed = False  # the body's 落款 date or 版记 has been passed
    listed = _listed_titles(lines)
    for index, line in enumerate(lines):
        start = _attachment_start(line.text, english)
        if start:
            opens, number, title = start
            if (opens and current.lines) or (signed and current is body):
                current = _Part([], number, title, line.text)
                attachments.append(current)
                continue
        elif signed and listed and (current is body or current.lines):
            # reprints often drop the 附件 mark: after the 落款, a title the 附件说明 named opens its
            # attachment, and so does a title with numbered text under it where the body ends (a 令's
            # text follows its date without any 附件说明: see _content)
            number = listed.get(_bare_title(line.text))
            if number or (current is body and _unmarked_attachment(lines, index, english)):
                current = _Part([], number)
                attachments.append(current)
        if current is body and _signs_off(line.text):
            signed = True
        current.lines.append(line)
    return body, attachments


def _listed_titles(lines: list[_Line]) -> dict[str, int]:
    """The titles the body's 附件说明 names (附件：1.某某办法 / 2.某某表), bare, with their numbers."""
    titles: dict[str, int] = {}
    for index, line in enumerate(lines):
        if _signs_off(line.text):
            break
        if ATTACHMENT_NOTE.match(line.text):
            named = [ATTACHMENT_NOTE.sub("", line.text)]
            for later in lines[index + 1:]:  # 2.某某表 on the lines below
                if not _LISTED.match(later.text):
                    break
                named.append(later.text)
            for entry in named:
                found = _LISTED.match(entry)
                title = _bare_title(entry[found.end():] if found else entry)
                if title:  # "附件：" alone, its entries on the lines below
                    titles.setdefault(title, len(titles) + 1)
            break
    return titles


def _bare_title(text: str) -> str:
    return _TITLE_MARKS.sub("", text)


def _unmarked_attachment(lines: list[_Line], index: int, english: bool) -> bool:
    """Whether ``lines[index]``, after the body's 落款, is the title of an attached text printed without
    its 附件 mark: a title line (not a 版记, 附注 or date) followed by numbered items."""
    text = lines[index].text
    if not _head_like(text) or _signs_off(text) or NOTE_LINE.match(text) or match_outline(text, english=english):
        return False
    return _numbered(lines[index + 1:index + 4], english)


def _organ_line(text: str, english: bool) -> bool:
    return (
        len(text) <= ORGAN_LINE_MAX_CHARS
        and not _ORGAN_PUNCTUATION.search(text)
        and not _MARKDOWN.match(text)
        and not match_outline(text, english=english)
    )


def _content(lines: list[_Line], english: bool, *, body: bool) -> list[_Line]:
    """The lines before the tail: 附件说明 (body only), the 落款 organ and date, 附注, 版记."""
    for index, line in enumerate(lines):
        if index == 0:
            continue
        text = line.text
        if (body and ATTACHMENT_NOTE.match(text)) or CC_LINE.match(text) or NOTE_LINE.match(text) or (
                PRINTED_LINE.search(text) and _DATED.search(text)):
            return lines[:index]
        if _date_line(text):
            rest = lines[index + 1:]
            if body and _numbered(rest, english) and not _numbered(lines[:index], english):
                # 令 format: the promulgation and its date come first, the numbered text after
                return _content(rest[_head_end(rest, english):], english, body=True)
            end = index
            # the organ names printed above the date belong to the 落款 (joint documents: several)
            while end > 1 and index - end < 4 and _organ_line(lines[end - 1].text, english):
                end -= 1
            return lines[:end]
    return lines


def _numbered(lines: list[_Line], english: bool) -> bool:
    return any(_MARKDOWN.match(line.text) or match_outline(line.text, english=english) for line in lines)


# ---------------------------------------------------------------- the item tree

def _heading_parts(text: str, english: bool, stack: list[_Node], last_article: int | None):
    """(key, Heading or None, heading text without Markdown marks) for a heading line, else None."""
    markdown = _MARKDOWN.match(text)
    body = markdown.group(2) if markdown else text
    found = match_outline(body, english=english)
    if found is None:
        return (f"md{len(markdown.group(1))}", None, body) if markdown and body else None
    after = body[len(found.marker):]
    if (found.family == "article" and not markdown and last_article is not None
            and found.number <= last_article and after[:1].strip() and _ARTICLE_REFERENCE.match(after)):
        return None
    if found.family in ROMAN_OR_LETTER:
        found = _roman_or_letter(found, stack)
    key = f"decimal{len(found.parts)}" if found.family == "decimal" else found.family
    return key, found, body


def _roman_or_letter(found: Heading, stack: list[_Node]) -> Heading:
    """"(i)" after "(h)" is the letter i, otherwise one; "(v)" after "(iv)" is five, otherwise the letter v."""
    numeral = found.marker.strip("().").strip()
    if len(numeral) != 1:
        return found
    letter_family = ROMAN_OR_LETTER[found.family]
    letter = ord(numeral.lower()) - ord("a") + 1
    open_number = {node.key: node.order[-1] for node in stack if node.order}
    if open_number.get(letter_family) == letter - 1:
        return Heading(letter_family, letter, found.marker)
    if numeral in "iI" or open_number.get(found.family) == found.number - 1:
        return found
    return Heading(letter_family, letter, found.marker)


def _describe(node: _Node, found: Heading | None, heading_text: str, line: _Line, markdown: bool) -> None:
    """Fill in display, label, bare and lead from the heading line."""
    marker = found.marker if found else ""
    rest = heading_text[len(marker):].strip()
    prefix = len(line.text) - len(heading_text)  # the Markdown "## "
    article = found is not None and found.family == "article"
    if markdown or not rest or (
            not article and not _SENTENCE_MARKS.search(rest) and not rest.endswith((".", "：", ":"))
            and len(rest) <= BARE_HEADING_MAX_CHARS):
        # a bare heading: its text, if any, is on the lines below
        node.display, node.label, node.bare = heading_text, rest.rstrip("：:").strip(), True
        node.lead = len(line.text)
        return
    node.display = marker
    node.lead = prefix + len(marker)
    # a 项 of a regulation is one clause; "1.共建基地。对……给予奖励。" is a paragraph
    node.list_item = rest.endswith(("；", ";", "。", ".", "，", ",")) and not re.search(r"[。！？!?]", rest[:-1])
    if article:
        label = re.match(r"【([^】]{1,20})】", rest)  # 条旨, e.g. 第一条【立法目的】
        if label:
            node.label = label.group(1)
    elif _CJK.search(rest):
        cut = re.search(r"[。：:]", rest)
        if cut and cut.start() <= RUN_IN_LABEL_MAX_CHARS and "；" not in rest[:cut.start()] and (
                rest[cut.end():].strip() or cut.group() != "。"):
            # "目标任务。到2025年……", or a short line opening a list: "建设实训基地："
            node.label = rest[:cut.start()].strip()
    if node.label:
        node.display = f"{marker}{node.label}"
        node.lead = line.text.index(node.label, prefix + len(marker)) + len(node.label) + 1
    elif not article and rest.endswith("。") and len(rest) <= RUN_IN_LABEL_MAX_CHARS + 1 and not _SENTENCE_MARKS.search(
            rest[:-1]):
        node.summary = rest[:-1]  # "（二）规范学徒培养过程。" above "1." … "3."


class _Depths:
    """Heading families from the outermost down, in the order the document first uses them.

    Documents skip levels, so no family has a fixed depth; but a family met late goes above
    the families it conventionally heads (``CONVENTIONAL_LEVEL``) instead of below them all.
    """

    def __init__(self) -> None:
        self.order: list[str] = []

    def rank(self, key: str) -> int:
        if key not in self.order:
            level = CONVENTIONAL_LEVEL.get(key)
            below = [i for i, other in enumerate(self.order)
                     if level is not None and CONVENTIONAL_LEVEL.get(other, -1) > level]
            self.order.insert(below[0] if below else len(self.order), key)
        return self.order.index(key)


def _tree(lines: list[_Line], english: bool) -> _Node:
    """Nest the lines under their headings (see ``_Depths``)."""
    root = _Node()
    stack = [root]
    depths = _Depths()
    last_article = None
    for line in lines:
        if _COMMENT.match(line.text) or _CONTENTS.search(line.text):
            continue
        heading = _heading_parts(line.text, english, stack, last_article)
        if heading is None:
            _add_paragraph(stack, line)
            continue
        key, found, heading_text = heading
        rank = depths.rank(key)
        while len(stack) > 1 and depths.rank(stack[-1].key) >= rank:
            stack.pop()
        if found and found.family == "article":
            last_article = found.number
        node = _Node(key=key, content=[_Run([line])])
        node.order, node.component = _number(found, stack[-1])
        _describe(node, found, heading_text, line, heading_text != line.text)
        parent = stack[-1]
        if parent.summary and not parent.label:
            parent.label, parent.display = parent.summary, parent.display + parent.summary
        parent.content.append(node)
        stack.append(node)
    return root


def _number(found: Heading | None, parent: _Node) -> tuple[tuple[int, ...], str]:
    """The printed number as a sort key and as a path component (() for an unnumbered heading)."""
    if found is None:
        return (), ""
    if found.family != "decimal":
        return (found.number,), str(found.number)
    # "2.1" under "2." adds "1"; without its parent open it keeps its full printed form
    if parent.order and parent.order[-1] == found.parts[-2] and (
            parent.key == f"decimal{len(found.parts) - 1}" or len(found.parts) == 2):
        return (found.parts[-1],), str(found.parts[-1])
    return found.parts, ".".join(map(str, found.parts))


def _add_paragraph(stack: list[_Node], line: _Line) -> None:
    top = stack[-1]
    if len(stack) == 1:
        top.content.append(_Run([line]))  # preamble: every paragraph is a unit
        return
    parent = stack[-2]
    if (top.list_item and len(top.content) == 1 and len(top.content[0].lines) == 1 and len(stack) > 2
            and _introduces_list(parent)):
        # the list that the parent opened with "：" is over: this paragraph is its next 款
        stack.pop()
        parent.content.append(_Run([line]))
        return
    if isinstance(top.content[-1], _Run):
        top.content[-1].lines.append(line)
    else:
        top.content.append(_Run([line]))


def _introduces_list(node: _Node) -> bool:
    runs = [entry for entry in node.content if isinstance(entry, _Run)]
    return bool(runs) and runs[-1].lines[-1].text.endswith(("：", ":"))


# ---------------------------------------------------------------- units

def _units_of_body(part: _Part, english: bool) -> list[_Unit]:
    root = _tree(_content(part.lines, english, body=True), english)
    units: list[_Unit] = []
    _emit_root(root, (), (), "body", units)
    return units


def _units_of_attachment(part: _Part, prefix: str, english: bool) -> list[_Unit]:
    lines = part.lines
    title = part.title
    if not title and lines and _head_like(lines[0].text) and not match_outline(lines[0].text, english=english):
        title, lines = lines[0].text, lines[1:]
    lines = _content(lines, english, body=False) if lines else lines
    if not lines:
        return []
    display = f"{part.mark} {title}".strip() if title and title not in part.mark else part.mark
    root = _tree(lines, english)
    if not any(isinstance(entry, _Node) for entry in root.content):
        # no numbering at all: a list or table, coded as a whole
        return [_Unit((prefix,), title, (), lines[0].start, lines[-1].end, "attachment")]
    units: list[_Unit] = []
    _emit_root(root, (prefix,), (display,), "attachment", units)
    return units


def _emit_root(root: _Node, prefix: tuple[str, ...], enclosing: tuple[str, ...], section: str,
               units: list[_Unit]) -> None:
    preamble = [entry for entry in root.content if isinstance(entry, _Run)]
    for index, run in enumerate(preamble, start=1):
        path = prefix + (("0",) if len(preamble) == 1 else ("0", str(index)))
        units.append(_Unit(path, "", enclosing, run.lines[0].start, run.lines[-1].end, section))
    _emit_children([entry for entry in root.content if isinstance(entry, _Node)], prefix, enclosing, section, units)


def _emit_children(children: list[_Node], prefix: tuple[str, ...], enclosing: tuple[str, ...], section: str,
                   units: list[_Unit]) -> None:
    previous: tuple[int, ...] = (0,)
    for child in children:
        if child.order and child.order > previous:
            order, component = child.order, child.component
        else:
            # a repeated, backward or missing number: count on from the previous sibling
            order = previous[:-1] + (previous[-1] + 1,)
            component = ".".join(map(str, order))
        previous = order
        _emit(child, prefix + (component,), enclosing, section, units)


def _emit(node: _Node, path: tuple[str, ...], enclosing: tuple[str, ...], section: str,
          units: list[_Unit]) -> None:
    groups: list[tuple[_Run, list[_Node]]] = []
    for entry in node.content:
        if isinstance(entry, _Run):
            groups.append((entry, []))
        else:
            groups[-1][1].append(entry)
    inner = enclosing + (node.display,)
    for index, (run, children) in enumerate(groups, start=1):
        # one group: the item itself; several: its 款, numbered from 1
        own_path = path if len(groups) == 1 else path + (str(index),)
        first = index == 1
        has_text = not first or not node.bare or len(run.lines) > 1
        if has_text or not children:
            units.append(_Unit(own_path, node.label if first else "", enclosing,
                               run.lines[0].start, run.lines[-1].end, section, node.lead if first else 0))
        _emit_children(children, own_path, inner, section, units)


# ---------------------------------------------------------------- sentences

def _sentence_ends(text: str, lead: int) -> list[int]:
    """Offsets just after each sentence end in ``text`` (not inside brackets, quotes or 《》)."""
    ends = []
    depth = 0
    in_quote = False
    index = lead
    while index < len(text):
        char = text[index]
        if char == "\n":
            depth, in_quote = 0, False  # an unclosed bracket must not swallow the next paragraph
            ends.append(index)
        elif char in _OPENERS:
            depth += 1
        elif char in _CLOSERS:
            depth = max(0, depth - 1)
        elif char == '"':
            in_quote = not in_quote
        elif depth == 0 and not in_quote and (char in "。！？；!?;" or (char == "." and _english_stop(text, index))):
            while index + 1 < len(text) and text[index + 1] in "。！？；!?;…”’」』":
                index += 1
            ends.append(index + 1)
        index += 1
    return ends


def _english_stop(text: str, index: int) -> bool:
    """A full stop that ends an English sentence: space and a capital after, no abbreviation before."""
    after = text[index + 1:index + 3]
    if not (after[:1] == " " and (after[1:2].isupper() or after[1:2].isdigit() or after[1:2] in "\"“(")):
        return False
    word = re.search(r"([A-Za-z.]+)$", text[:index])
    return not word or (len(word.group(1)) > 1 and word.group(1).lower() not in _ABBREVIATIONS)


def _sentences(text: str, found: _Unit) -> list[_Unit]:
    unit_text = text[found.start:found.end]
    spans = []
    begin = 0
    lead = found.lead
    while lead < len(unit_text) and unit_text[lead].isspace():
        lead += 1  # a bare heading line runs into the sentence below it
    for end in _sentence_ends(unit_text, lead) + [len(unit_text)]:
        piece = unit_text[begin:end]
        if piece.strip():
            left = begin + len(piece) - len(piece.lstrip())
            spans.append([left, begin + len(piece.rstrip())])
        begin = end
    merged: list[list[int]] = []
    for span in spans:
        if merged and span[1] - span[0] < MIN_SENTENCE_CHARS:
            merged[-1][1] = span[1]
        else:
            merged.append(span)
    if len(merged) > 1 and merged[0][1] - merged[0][0] < MIN_SENTENCE_CHARS:
        first = merged.pop(0)
        merged[0][0] = first[0]  # a short first fragment has no sentence before it to join
    return [
        _Unit(found.path + (str(number),), found.heading, found.heading_path,
              found.start + left, found.start + right, found.section)
        for number, (left, right) in enumerate(merged, start=1)
    ]
