"""Metadata of one policy document, detected from its canonical text (GB/T 9704-2012 layout).

The *head* is everything before the 主送机关 line, the first numbered item or the first sentence:
发文机关标志, 发文字号 and 标题 live there (web pages add a few lines of leftovers; laws from
collections add their adoption lines).  The 落款 is the organ line(s) right above the first
成文日期 line of the body.  The level comes from ``divisions.resolve_level``.  English translations
get their title, 落款 and date only.
"""
from __future__ import annotations

import re
from datetime import date

from .clean import strip_pinyin_glosses
from .divisions import looks_like_organ, place_at_start, resolve_level, split_issuers
from .numbering import CN_DIGITS, DATE_LINE, match_heading, to_int
from .records import PolicyMetadata

HEAD_MAX_LINES = 20  # past this, a "head" is body text whose start we failed to see
_HAN = "\u4e00-\u9fff"
_NUMBER = rf"(\d{{1,5}}|[{CN_DIGITS}]{{1,6}})"
_BRACKET_NUMBER = re.compile(
    rf"([{_HAN}A-Za-z]{{1,14}}?)\s*[〔\[［【(（]\s*((?:19|20)\d{{2}})\s*[〕\]］】)）]\s*第?\s*(\d{{1,5}})\s*号"
)
_ORDER_NUMBER = re.compile(rf"(?:^|(?<=[\s:：（(])|(?<=日))([{_HAN}]{{2,30}}?(?:令|公告))\s*[（(]?\s*(第?)\s*{_NUMBER}\s*号")
_ORDER_LINE = re.compile(rf"^[（(]?\s*(第?)\s*{_NUMBER}\s*号\s*[）)]?$")  # 第256号 under a XX令 标志
_NOT_A_CODE = re.compile(r"关于|转发|印发|根据|按照|依据")  # a title or sentence, not a 机关代字
_GENRE = re.compile(
    r"(?:通知|意见|办法|方案|规划|条例|规定|细则|决定|计划|纲要|批复|函|公告|通告|通报|报告|指南|标准|名单|规则"
    r"|要点|措施|章程|决议|清单|目录|法|指引|公示|纪要|答复|规程|准则)$"
)
_TRAILING_NOTE = re.compile(r"(?:[（(][^（）()]*[）)]\s*)+$")  # （试行）（2010年修正）
_DATE = re.compile(
    rf"((?:19|20)\d{{2}}|[〇○零一二三四五六七八九]{{4}})\s*年\s*(\d{{1,2}}|[{CN_DIGITS}]{{1,3}})\s*月"
    rf"\s*(\d{{1,2}}|[{CN_DIGITS}]{{1,3}})\s*日|((?:19|20)\d{{2}})[-/.](\d{{1,2}})[-/.](\d{{1,2}})"
)
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")  # NFC keeps them; patterns want ASCII
_YEAR_DIGITS = {"〇": 0, "○": 0, "零": 0, **{char: n for n, char in enumerate("一二三四五六七八九", start=1)}}
# laws: "1997年9月5日北京市第十届人民代表大会常务委员会第三十九次会议通过"
_ADOPTION = re.compile(
    rf"(?:^|(?<=[\s（(])|(?<=日))([{_HAN}]{{0,20}}?)第[{CN_DIGITS}]+届((?:全国)?人民代表大会(?:常务委员会)?)第[{CN_DIGITS}]+次"
)
# the information table of government web pages
_LABEL = re.compile(
    r"^(来源|信息来源|发布时间|发布日期|发布机构|发文机关|发文单位|发文字号|文号|成文日期|标题|名称|文件名称"
    r"|访问量|浏览次数|点击数|作者|责任编辑|索引号|主题分类|字号)\s*[:：]\s*"
)
_CHROME = re.compile(r"[>＞|｜]|https?:|www\.")
# English translations: a genre word in the title ("Action Plan for …"), a 落款 such as
# "Ministry of Education" over "June 3, 2024"
_EN_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_EN_DATE_LINE = re.compile(rf"^(?:({_EN_MONTHS})\s+(\d{{1,2}}),?\s+(\d{{4}})|(\d{{1,2}})\s+({_EN_MONTHS})\s+(\d{{4}}))$")
_EN_GENRE = re.compile(
    r"\b(?:Notice|Opinions?|Measures|Regulations?|Provisions|Law|Decision|Plan|Programme|Program|Guidelines?"
    r"|Rules|Circular|Announcement|Scheme|Outline)\b"
)
_EN_ORGAN = re.compile(
    r"^(?=[A-Z])[A-Za-z ,'&()-]{0,80}?\b(?:Ministry|Commission|Council|Department|Bureau|Office|Committee|Government"
    r"|Administration|Congress|Agency|Authority)\b"
)
_SENTENCE = re.compile(r"[。；！？;!?]")
# an organ that acts in the body: a place, then the organ (深圳市发展和改革委员会将…); 《…》 cite other documents
_ACTING_ORGAN = re.compile(rf"[{_HAN}]{{1,8}}?[省市县区州盟旗][{_HAN}]{{0,12}}?(?:人民政府|委员会|厅|局)")
_CITED = re.compile(r"《[^》]*》")
BODY_ORGAN_LINES = 40
_PLACELESS = tuple("省市县区州盟旗")  # 市人民政府关于…: real titles drop the place name


def detect_metadata(text: str, *, running_headers: tuple[str, ...] = ()) -> PolicyMetadata:
    """Title, 文号, issuer, 成文日期 and government level of one policy document."""
    lines = _lines(text)
    start = _body_start(lines)
    head = lines[:start]
    addressees = lines[start] if start < len(lines) and _is_addressee(lines[start]) else None
    labelled = _labelled(head)
    doc_number = _doc_number(head)
    title = _order_title(head, lines[start : start + 8]) or _title(head) or labelled.get("标题")
    closing_date, closing_issuer = _closing(lines, start)
    title_issuer = _title_issuer(title)
    candidates = (
        _flag_issuer(head, running_headers),
        title_issuer,
        closing_issuer,
        _adoption_issuer(head),
        labelled.get("发文机关") or labelled.get("发文单位"),
    )
    issuer = _fuller(_choose_issuer([candidate for candidate in candidates if candidate]), title_issuer)
    when = closing_date or _head_date(head, labelled)
    year = int(when[:4]) if when else _number_year(doc_number)
    level = resolve_level(issuer, doc_number, year, title=title, addressees=addressees,
                          acting_organs=_acting_organs(lines[start:start + BODY_ORGAN_LINES]))
    return PolicyMetadata(
        title=title,
        doc_number=doc_number,
        issuer=issuer,
        date=when,
        level=level.level,
        province=level.province,
        city=level.city,
        county=level.county,
        level_evidence=level.evidence,
        level_ambiguous=level.ambiguous,
    )


def _acting_organs(body: list[str]) -> tuple[str, ...]:
    """Organs with a place name that the body names outside cited titles, in order."""
    return tuple(dict.fromkeys(organ for line in body for organ in _ACTING_ORGAN.findall(_CITED.sub("", line))))


def _lines(text: str) -> list[str]:
    """Non-empty lines, stripped, ASCII digits, no pinyin glosses; letter-spaced lines closed up."""
    out = []
    for raw in text.split("\n"):
        # ingested text has no glosses left; a text handed over directly may (关(guān)于 splits titles and 文号)
        line = strip_pinyin_glosses(raw.translate(_FULL_WIDTH_DIGITS)).strip()
        tokens = line.split()
        if len(tokens) >= 3 and all(len(token) == 1 for token in tokens):  # 浙 江 省 教 育 厅 文 件
            line = "".join(tokens)
        if line:
            out.append(line)
    return out


def _bare(line: str) -> str:
    return line.lstrip("#").strip()


def _is_addressee(line: str) -> bool:
    return line.endswith(("：", ":")) and len(line) >= 3 and not _LABEL.match(line)


def _body_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        bare = _bare(line)
        if index >= HEAD_MAX_LINES:
            return index
        if _LABEL.match(bare):
            continue
        if (
            line.startswith("<!--")  # the law collection's "<!-- INFO END -->"
            or match_heading(bare)
            or _SENTENCE.search(bare)
            or re.search(r"[a-z]\.$", bare)  # an English sentence
            or _is_addressee(bare)
        ):
            return index
    return len(lines)


def _kind(line: str) -> str:
    """What a head line is: label, number, flag, date, chrome or text (title material)."""
    bare = _bare(line)
    if _LABEL.match(bare):
        return "label"
    if _numbers(bare) or _ORDER_LINE.match(bare):
        return "number"
    if _CHROME.search(bare):
        return "chrome"
    if (bare.endswith("文件") and _organ_row(bare[:-2])) or (bare.endswith("令") and looks_like_organ(bare[:-1])):
        return "flag"
    if DATE_LINE.match(bare) or re.match(r"^[（(]?\s*(?:19|20)\d{2}\s*年", bare):
        return "date"
    return "text"


def _numbers(line: str) -> list[str]:
    """发文字号 on a line, normalised (〔〕, no 第, no leading zeros), citations left out."""
    found = []
    for match in _BRACKET_NUMBER.finditer(line):
        code = match.group(1).rsplit("文件", 1)[-1]  # "浙江省教育厅文件浙教职成〔…" run together
        if code and not _NOT_A_CODE.search(code) and not _cited(line, match.start()):
            found.append((match.start(), f"{code}〔{match.group(2)}〕{int(match.group(3))}号"))
    for match in _ORDER_NUMBER.finditer(line):
        if not _cited(line, match.start()):
            found.append((match.start(), "".join(match.groups()) + "号"))
    return [number for _, number in sorted(found)]


def _cited(line: str, start: int) -> bool:
    """A 文号 in brackets right after a 《title》 is a citation of another document."""
    before = line[:start].rstrip()
    return before.endswith(("（", "(")) and before[:-1].rstrip().endswith(("》", "〉"))


def _doc_number(head: list[str]) -> str | None:
    for index, line in enumerate(head):
        found = _numbers(line)
        if found:
            return found[0]
        order = _ORDER_LINE.match(line)
        if order and index and _promulgation(head[index - 1]):  # 命令格式: XX令 / 第256号; XX公告 / （第108号）
            return f"{head[index - 1]}{order.group(1)}{order.group(2)}号"
    return None


def _number_year(doc_number: str | None) -> int | None:
    found = re.search(r"〔(\d{4})〕", doc_number or "")
    return int(found.group(1)) if found else None


def _ends_title(line: str) -> bool:
    core = _TRAILING_NOTE.sub("", line).rstrip("》”\"」 ")
    return bool(_GENRE.search(core))


def _title(head: list[str]) -> str | None:
    for line in head:
        if re.match(r"^#\s+", line) and not line.startswith("##"):
            return _unwrap(_bare(line))
    kinds = [_kind(line) for line in head]
    titles = []
    for index, line in enumerate(head):
        if kinds[index] != "text" or not _ends_title(line):
            continue
        title = line
        opening = _opening_line(head, kinds, index)
        if opening is not None:
            title = "".join(head[opening:index + 1])
        elif index and kinds[index - 1] == "text" and _continues(head[index - 1], line):
            title = head[index - 1] + title
        if index + 1 < len(head) and kinds[index + 1] == "text" and _runs_on(title, head[index + 1]):
            title += head[index + 1]
        titles.append(_unwrap(title))
    # web pages repeat the title above the document, sometimes without the organ: keep the full one
    fuller = [title for title in titles[1:] if titles[0] in title]
    if titles:
        return max(fuller, key=len) if fuller else titles[0]
    english = [line for line, kind in zip(head, kinds) if kind == "text" and line[:1].isupper() and _EN_GENRE.search(line)]
    return english[0] if english else None


def _opening_line(head: list[str], kinds: list[str], end: int) -> int | None:
    """A 关于 title broken over three or four lines: where it opens, if the lines between fit."""
    for start in range(end - 2, max(-1, end - 4), -1):
        lines = head[start:end + 1]
        if (
            "关于" in lines[0]
            and all(kinds[i] == "text" for i in range(start, end + 1))
            and not any("关于" in line or _SENTENCE.search(line) or len(line) > 40 for line in lines[1:])
            and not _SENTENCE.search(lines[0])
        ):
            return start
    return None


def _continues(previous: str, line: str) -> bool:
    """Is ``previous`` the first half of the title that ends on ``line``?"""
    if _SENTENCE.search(previous) or len(previous) > 60:
        return False
    if line.startswith(("关于", "印发", "转发")):  # broken after the organ name
        return looks_like_organ(previous)
    if "关于" in previous:
        return "关于" not in line
    if "关于" in line or line.startswith("《"):
        return False
    # broken mid-phrase: the first half opens with the place name, the second half does not
    # (a letterhead such as 慈溪市教育局 above 慈溪市…规划 fails the second test)
    return place_at_start(previous) is not None and place_at_start(line) is None


def _runs_on(title: str, following: str) -> bool:
    """A 关于 title always reaches 的<genre>; if this line stops short, the next line ends it."""
    after = title.split("关于", 1)[1] if "关于" in title else None
    return (
        after is not None
        and "的" not in after
        and "关于" not in following
        and _ends_title(following)
        and not _SENTENCE.search(following)
    )


def _unwrap(title: str) -> str:
    if title.startswith("《") and title.endswith("》") and title.count("《") == 1:
        return title[1:-1]
    return title


def _promulgation(line: str) -> bool:
    """An organ's 令 or 公告 that promulgates a regulation: 教育部令, 甘肃省人民代表大会常务委员会公告."""
    return (line.endswith("令") and _kind(line) == "flag") or (line.endswith("公告") and looks_like_organ(line[:-2]))


def _order_title(head: list[str], following: list[str]) -> str | None:
    """命令格式 and 公告 of a legislature: the regulation's title comes after the promulgation text."""
    if not any(_promulgation(line) for line in head):
        return None
    for line in following:
        if not _SENTENCE.search(line) and not match_heading(line) and _ends_title(line) and _kind(line) == "text":
            return _unwrap(line)
    return None


def _labelled(head: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in head:
        found = _LABEL.match(line)
        if found:
            values.setdefault(found.group(1), line[found.end() :].strip())
    return values


def _flag_issuer(head: list[str], running_headers: tuple[str, ...]) -> str | None:
    """发文机关标志 (XX文件 / XX令), with joint organs stacked on the lines around it."""
    kinds = [_kind(line) for line in head]
    stop = kinds.index("number") if "number" in kinds else len(head)

    def stacked(index: int) -> bool:  # a joint issuer printed on its own line next to the 标志
        return kinds[index] == "flag" or (kinds[index] == "text" and _organ_row(_bare(head[index])))

    for index in range(stop):
        if kinds[index] != "flag":
            continue
        low = high = index
        while low > 0 and stacked(low - 1):
            low -= 1
        while high + 1 < stop and stacked(high + 1):
            high += 1
        names = [name for line in head[low : high + 1] for name in split_issuers(_strip_flag(_bare(line)))]
        return "、".join(dict.fromkeys(names)) or None
    if 0 < stop < len(head) and stacked(stop - 1):  # 信函格式: the organ's name(s) alone above the 文号
        low = stop - 1
        while low > 0 and stacked(low - 1):  # joint organs, one per line
            low -= 1
        names = [name for line in head[low:stop] for name in split_issuers(_bare(line))]
        return "、".join(dict.fromkeys(names))
    header = _strip_flag("".join(running_headers[0].split())) if running_headers else ""
    return "、".join(split_issuers(header)) if header and _organ_row(header) else None


def _strip_flag(line: str) -> str:
    return re.sub(r"(?:文件|令)$", "", line)


def _title_issuer(title: str | None) -> str | None:
    """Organ(s) before 关于/印发/转发 in the title: 国家发展改革委 教育部关于…"""
    opening = re.split(r"《|“", title or "")[0]
    found = re.search(r"关于|印发|转发", opening)
    if not found or not found.start():
        return None
    names = split_issuers(opening[: found.start()])
    return "、".join(names) if names and all(looks_like_organ(name) for name in names) else None


def _closing(lines: list[str], start: int) -> tuple[str | None, str | None]:
    """成文日期 and the 落款 organ(s) above it: the first date line of the body."""
    for index in range(start, len(lines)):
        found = DATE_LINE.match(lines[index]) or _EN_DATE_LINE.match(lines[index])
        if not found:
            continue
        organs: list[str] = []
        above = index - 1
        while above >= start and index - above <= 4:
            if _organ_row(lines[above]):
                organs[:0] = lines[above].split()
            elif _EN_ORGAN.match(lines[above]) and not re.search(r"[.;:]", lines[above]):
                organs.insert(0, lines[above])
            else:
                break
            above -= 1
        return _iso(*_date_parts(found)), "、".join(organs) or None
    return None, None


def _date_parts(found: re.Match[str]) -> tuple[str, str, str]:
    """Year, month, day of a Chinese or English date line."""
    groups = found.groups()
    if len(groups) == 3:
        return groups
    month, day, year = groups[:3] if groups[0] else (groups[4], groups[3], groups[5])
    return year, str(_EN_MONTHS.split("|").index(month) + 1), day


def _organ_row(line: str) -> bool:
    tokens = line.split()
    return bool(tokens) and all(looks_like_organ(token) for token in tokens)


def _adoption_issuer(head: list[str]) -> str | None:
    for line in head:
        found = _ADOPTION.search(line)
        if found:
            return found.group(1) + found.group(2)
    return None


def _choose_issuer(candidates: list[str]) -> str | None:
    """The first candidate whose lead organ names its place (市人民政府 says nothing)."""
    for candidate in candidates:
        if not candidate.startswith(_PLACELESS):
            return candidate
    return candidates[0] if candidates else None


def _fuller(issuer: str | None, title_issuer: str | None) -> str | None:
    """A joint document may carry only the lead organ's 文件 标志; its title then names all the organs."""
    if issuer and title_issuer and set(issuer.split("、")) < set(title_issuer.split("、")):
        return title_issuer
    return issuer


def _head_date(head: list[str], labelled: dict[str, str]) -> str | None:
    """成文日期 from the page's table, else the latest date of the head (laws: the last amendment)."""
    dates = _dates(labelled.get("成文日期", ""))
    if dates:
        return dates[0]
    dates = [found for line in head if "施行" not in line for found in _dates(line)]
    return max(dates) if dates else None


def _dates(line: str) -> list[str]:
    found = []
    for match in _DATE.finditer(line):
        groups = match.groups()
        iso = _iso(*groups[:3]) if groups[0] else _iso(*groups[3:])
        if iso:
            found.append(iso)
    return found


def _iso(year: str, month: str, day: str) -> str | None:
    try:
        number = int(year) if year.isdigit() else int("".join(str(_YEAR_DIGITS[char]) for char in year))
        return date(number, to_int(month), to_int(day)).isoformat()
    except (KeyError, ValueError):
        return None
