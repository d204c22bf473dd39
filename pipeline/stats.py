"""Corpus statistics over tokenized units: frequencies, TF-IDF, keyness, KWIC, co-occurrence.

In: ``UnitTerms`` records (one per coding unit, tokens already filtered).  Out: lists of
plain dicts with fixed column names, sorted deterministically, ready for a table writer.
Nothing here reads the database or prints.

Group fields come from ``UnitTerms.groups``; the field ``"doc"`` always means the
document id (an int, so documents sort 1, 2, … 10).  A unit without a field counts as
the value ``""``.
"""
from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from .charts import as_written
from .errors import ConfigError, PolicoderError

PER = 10_000  # normalised frequencies are per 10,000 terms
ZERO_ADJUSTMENT = 0.5  # stands in for a zero frequency in log ratio and %DIFF (Hardie 2014)
MEASURES = ("jaccard", "pmi")
DRAW_FORMATS = (".png", ".svg")

# Characters a font must have to count as covering Chinese: common Han characters plus
# the ones our own labels are made of.
CJK_SAMPLE = "中文的产教融合职业"
# Preferred families, best first; any other installed font covering CJK_SAMPLE comes after.
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei", "Microsoft YaHei", "PingFang SC", "Hiragino Sans GB", "Heiti SC", "SimHei",
    "Noto Serif CJK SC", "Source Han Serif SC", "AR PL UMing CN", "AR PL UKai CN", "SimSun", "Droid Sans Fallback",
)
FONT_HELP = ("install one (Debian/Ubuntu: apt-get install fonts-wqy-microhei or fonts-noto-cjk) "
             "or give a font file (--font FILE, font_path=...)")

FREQUENCY_COLUMNS = ("term", "freq", "df", "units", "per_10k")


@dataclass(frozen=True)
class UnitTerms:
    doc_id: int
    unit_id: str
    terms: tuple[str, ...]  # the unit's tokens after stop-word/punctuation filtering, in order
    groups: dict[str, str]  # e.g. {"level": "county", "year": "2023", "issuer": "...", "kind": "policy"}
    text: str = ""  # the unit's canonical text (for KWIC)
    spans: tuple[tuple[int, int], ...] = ()  # (start, end) of each term within `text`, same order as `terms`


def group_value(unit: UnitTerms, field: str) -> int | str:
    """The unit's value of a group field; ``"doc"`` is the document id."""
    return unit.doc_id if field == "doc" else unit.groups.get(field, "")


def _check_field(units: list[UnitTerms], field: str) -> None:
    # a misspelt field would otherwise put every unit in the group "" without a word
    if field == "doc" or not units or any(field in u.groups for u in units):
        return
    known = sorted({"doc", *(k for u in units for k in u.groups)})
    raise PolicoderError(f"no unit has the group field {field!r}; known fields: {', '.join(known)}",
                         code="unknown-group-field")


def _unit_order(unit_id: str) -> tuple:
    """Sort key that puts unit "1-2" before "1-10" and "A1-1" after the body units."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", unit_id) if part)


# --- frequencies ----------------------------------------------------------------------------

def term_frequencies(units: list[UnitTerms], *, by: str | None = None, min_freq: int = 1,
                     top: int | None = None) -> list[dict]:
    """Frequency of every term, overall or per value of the group field ``by``.

    Columns: [``by``,] term, freq (occurrences), df (documents containing the term),
    units (units containing it), per_10k (freq per 10,000 terms of the corpus, or of the
    group when ``by`` is given).  Terms with freq < ``min_freq`` (within their group) are
    left out; ``top`` keeps the first N terms of each group.  Sorted by group, then freq
    descending, then term.
    """
    if by in FREQUENCY_COLUMNS:
        raise ValueError(f"cannot group by {by!r}: it is also a column name")
    if by:
        _check_field(units, by)
    freq: dict[object, Counter] = defaultdict(Counter)
    of_document: dict[tuple, set] = defaultdict(set)  # (group, document) → its terms
    in_units: dict[object, Counter] = defaultdict(Counter)
    for unit in units:  # counted by Counter.update, without a Python step per term
        key = group_value(unit, by) if by else None
        freq[key].update(unit.terms)
        distinct = set(unit.terms)
        in_units[key].update(distinct)
        of_document[key, unit.doc_id] |= distinct
    docs: dict[object, Counter] = defaultdict(Counter)
    for (key, _), terms in of_document.items():
        docs[key].update(terms)
    rows = []
    for key in sorted(freq):
        rows += _frequency_rows(freq[key], docs[key], in_units[key], {by: key} if by else {}, min_freq, top)
    return rows


def _frequency_rows(freq: Counter, docs: Counter, in_units: Counter, group: dict, min_freq: int,
                    top: int | None) -> list[dict]:
    """``term_frequencies``' rows of one group, from its counts: occurrences, documents and units per term."""
    total = sum(freq.values())
    rows = []
    for term, n in sorted(freq.items(), key=lambda item: (-item[1], item[0]))[:top]:
        if n < min_freq:
            break
        rows.append({**group, "term": term, "freq": n, "df": docs[term], "units": in_units[term],
                     "per_10k": n / total * PER})
    return rows


def document_terms(units: list[UnitTerms]) -> dict:
    """What a corpus-wide count needs of one document's ``units``, without its units: how often
    each term occurs (``freq``) and in how many units (``units``), and the fingerprints of its
    text (``text``: its units' terms joined, as a topic model of documents reads it) and of each
    unit's (``unit_texts``: [unit id, fingerprint], as a model of units reads them)."""
    freq, in_units = Counter(), Counter()
    for unit in units:
        freq.update(unit.terms)
        in_units.update(set(unit.terms))
    return {"freq": freq, "units": in_units, "text": terms_fingerprint([t for unit in units for t in unit.terms]),
            "unit_texts": [[unit.unit_id, terms_fingerprint(unit.terms)] for unit in units]}


def add_term_counts(totals: dict[str, Counter], counts: dict, sign: int = 1) -> None:
    """Add one document's counts (``document_terms``' ``freq`` and ``units``) to the corpus's
    ``totals`` (``freq``; ``docs``, the documents a term occurs in; ``units``), or with ``sign``
    −1 take them away: counts are whole numbers, so a total made by difference is exact."""
    totals["freq"].update({term: sign * n for term, n in counts["freq"].items()})
    totals["docs"].update(dict.fromkeys(counts["freq"], sign))
    totals["units"].update({term: sign * n for term, n in counts["units"].items()})


def term_totals(totals: dict | None = None) -> dict[str, Counter]:
    """Corpus totals (see ``add_term_counts``) as counters, from their JSON form, or empty; a term
    whose count came to zero is dropped."""
    return {name: +Counter((totals or {}).get(name, {})) for name in ("freq", "docs", "units")}


def total_term_frequencies(totals: dict, *, min_freq: int = 1, top: int | None = None) -> list[dict]:
    """``term_frequencies`` of the whole corpus (no group) from its totals (``add_term_counts``)."""
    counted = term_totals(totals)
    return _frequency_rows(counted["freq"], counted["docs"], counted["units"], {}, min_freq, top)


def terms_fingerprint(terms: Iterable[str]) -> str:
    """A digest of a text's terms in order: what a later run compares to find a changed text."""
    return hashlib.sha256("\x1f".join(terms).encode()).hexdigest()[:16]


# --- TF-IDF ---------------------------------------------------------------------------------

def terms_of(document: tuple[str, ...]) -> tuple[str, ...]:
    """TfidfVectorizer analyzer for documents that are already term sequences.

    Module-level so a fitted vectorizer can be pickled.
    """
    return document


def tfidf_top(units: list[UnitTerms], *, per: str = "doc", top: int = 20) -> list[dict]:
    """The ``top`` terms by TF-IDF of each document (``per="doc"``) or each group value.

    A "document" for TF-IDF is the concatenation of the terms of all units of that
    document or group value.  Weights are scikit-learn's ``TfidfVectorizer`` defaults on
    those term sequences: raw counts times smoothed idf ``ln((1 + n) / (1 + df)) + 1``
    (n = number of documents or groups), each row scaled to unit L2 norm.
    Columns: [``per``], rank, term, tfidf.  Ties in tfidf are broken by term.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if top < 1:
        raise ValueError("top must be at least 1")
    _check_field(units, per)
    joined: dict[object, list[str]] = defaultdict(list)
    for unit in units:
        joined[group_value(unit, per)].extend(unit.terms)
    keys = [key for key in sorted(joined) if joined[key]]
    if not keys:
        return []
    vectorizer = TfidfVectorizer(analyzer=terms_of)
    matrix = vectorizer.fit_transform([tuple(joined[key]) for key in keys]).tocsr()
    vocabulary = vectorizer.get_feature_names_out()
    rows = []
    for i, key in enumerate(keys):
        row = matrix.getrow(i)
        weighted = sorted(zip(row.data.tolist(), vocabulary[row.indices].tolist()),
                          key=lambda item: (-item[0], item[1]))
        for rank, (weight, term) in enumerate(weighted[:top], start=1):
            rows.append({per: key, "rank": rank, "term": term, "tfidf": weight})
    return rows


# --- keyness --------------------------------------------------------------------------------

def log_likelihood(a: int, b: int, c: int, d: int) -> float:
    """G² of the 2×2 table [[a, b], [c - a, d - b]] (a term's frequency in corpora of c and d terms).

    The full four-cell statistic of Dunning (1993), 2 Σ O ln(O / E), with 0 ln 0 = 0.
    Rayson & Garside's online calculator sums only the two cells a and b, which gives a
    slightly smaller value; both follow χ²(1) under the null hypothesis.
    """
    n = c + d
    observed = (a, b, c - a, d - b)
    expected = (c * (a + b) / n, d * (a + b) / n, c * (n - a - b) / n, d * (n - a - b) / n)
    statistic = 2 * sum(o * math.log(o / e) for o, e in zip(observed, expected) if o > 0)
    return max(0.0, statistic)  # equal proportions can round to -1e-16; G² is never negative


def keyness(units: list[UnitTerms], *, field: str, target: str, reference: str, min_freq: int = 5) -> list[dict]:
    """Log-likelihood keyness of the units whose ``field`` is ``target`` against those where it is ``reference``.

    For each term with freq_target + freq_reference >= ``min_freq``:

    - g2: log-likelihood G² of the four-cell 2×2 table (see ``log_likelihood``);
    - p_value: upper tail of χ² with 1 degree of freedom, uncorrected; p_bonferroni
      multiplies it by the number of terms tested (the rows returned), capped at 1;
    - norm_target, norm_reference: frequency per 10,000 terms of each side;
    - log_ratio: log2 of the ratio of relative frequencies (Hardie 2014);
    - percent_diff: 100 × (norm_target − norm_reference) / norm_reference (Gabrielatos & Marchi 2012);
    - direction: "target" when the term is relatively more frequent in the target,
      "reference" when less, "none" when exactly equal.

    A zero frequency would make log_ratio and percent_diff infinite; in those two measures
    only, a frequency of 0 is replaced by 0.5.  g2 and the norms use the real counts.
    Sorted by g2 descending, then term.
    """
    from scipy.stats import chi2

    if target == reference:
        raise ValueError("target and reference must differ")
    _check_field(units, field)
    sides: dict[str, Counter] = {target: Counter(), reference: Counter()}
    for unit in units:
        side = sides.get(str(group_value(unit, field)))
        if side is not None:
            side.update(unit.terms)
    c, d = sum(sides[target].values()), sum(sides[reference].values())
    if not c or not d:
        empty = target if not c else reference
        present = sorted({str(group_value(u, field)) for u in units if u.terms})
        raise PolicoderError(f"no terms where {field} = {empty!r}; values with terms: {', '.join(present)}",
                             code="keyness-empty-group")
    tested = []
    for term in sides[target].keys() | sides[reference].keys():
        a, b = sides[target][term], sides[reference][term]
        if a + b >= min_freq:
            tested.append((term, a, b, log_likelihood(a, b, c, d)))
    # one vectorised call: a call per term would cost more than the rest of the loop
    p_values = chi2.sf([g2 for *_, g2 in tested], 1).tolist()
    rows = []
    for (term, a, b, g2), p_value in zip(tested, p_values):
        adjusted_target, adjusted_reference = (a or ZERO_ADJUSTMENT) / c, (b or ZERO_ADJUSTMENT) / d
        rows.append({
            "term": term, "freq_target": a, "freq_reference": b,
            "norm_target": a / c * PER, "norm_reference": b / d * PER,
            "g2": g2, "p_value": p_value, "p_bonferroni": min(1.0, p_value * len(tested)),
            "log_ratio": math.log2(adjusted_target / adjusted_reference),
            "percent_diff": (adjusted_target - adjusted_reference) * 100 / adjusted_reference,
            # compare a/c with b/d in integers so equal proportions are exactly equal
            "direction": "target" if a * d > b * c else "reference" if a * d < b * c else "none",
        })
    rows.sort(key=lambda row: (-row["g2"], row["term"]))
    return rows


# --- KWIC -----------------------------------------------------------------------------------

_ONE_LINE = str.maketrans({"\n": " ", "\t": " "})


def _matches(where: dict[str, str] | None, unit: UnitTerms) -> bool:
    return all(str(group_value(unit, field)) == value for field, value in (where or {}).items())


def kwic(units: list[UnitTerms], term: str, *, window: int = 15, where: dict[str, str] | None = None,
         whole_tokens: bool = False) -> list[dict]:
    """Every occurrence of ``term`` with ``window`` characters of context on each side.

    A concordance is a string search (as in AntConc and ROST CM): every non-overlapping
    occurrence in the unit text counts, also inside a longer token (产教融合 in 产教融合型企业);
    match_type "text".  With ``whole_tokens`` only tokens equal to ``term`` count (match_type
    "token"), so 融合 does not hit inside 产教融合 when the tokenizer knows 产教融合 as a word.

    ``where`` keeps units whose group fields equal all the given values.  start/end are
    character offsets of the match in the unit text; left/right are clipped at the unit's
    edges, with line breaks and tabs shown as spaces.
    Columns: doc_id, unit_id, left, match, right, start, end, match_type.  Sorted by
    document, unit (numbering order) and start.
    """
    if not term:
        raise ValueError("the search term is empty")
    if window < 0:
        raise ValueError("window must not be negative")
    for field in where or {}:
        _check_field(units, field)
    rows = []
    for unit in units:
        if not _matches(where, unit):
            continue
        if whole_tokens:
            if term in unit.terms and len(unit.spans) != len(unit.terms):
                raise ValueError(f"unit {unit.unit_id} has {len(unit.terms)} terms but {len(unit.spans)} spans")
            hits = [span for token, span in zip(unit.terms, unit.spans) if token == term]
        else:
            hits = [(m.start(), m.end()) for m in re.finditer(re.escape(term), unit.text)]
        for start, end in hits:
            rows.append({
                "doc_id": unit.doc_id, "unit_id": unit.unit_id,
                "left": unit.text[max(0, start - window):start].translate(_ONE_LINE),
                "match": unit.text[start:end],
                "right": unit.text[end:end + window].translate(_ONE_LINE),
                "start": start, "end": end, "match_type": "token" if whole_tokens else "text",
            })
    rows.sort(key=lambda row: (row["doc_id"], _unit_order(row["unit_id"]), row["start"]))
    return rows


# --- co-occurrence --------------------------------------------------------------------------

def cooccurrence(units: list[UnitTerms], *, top: int = 50, measure: str = "jaccard", min_count: int = 2,
                 threshold: float = 0.0) -> tuple[list[dict], list[dict]]:
    """Co-occurrence network of the ``top`` most frequent terms, counted by unit.

    Two terms co-occur when both are in the same unit (presence: how often each occurs
    there does not matter).  With N the number of units given, n_a the units containing
    a, and n_ab the units containing both:

    - jaccard = n_ab / (n_a + n_b − n_ab)
    - pmi = log2((n_ab / N) / ((n_a / N)(n_b / N))) = log2(n_ab · N / (n_a · n_b))

    An edge is kept when n_ab >= ``min_count`` and the chosen ``measure`` >= ``threshold``
    (so the default threshold 0 drops negative PMI).  ``weight`` repeats the chosen
    measure, for GraphML readers and the drawing.

    Returns (nodes, edges).  nodes: term, freq, units, sorted by freq descending then
    term; every top term is a node, with or without edges.  edges: source, target
    (source < target), count, jaccard, pmi, weight, sorted by weight descending, then
    count descending, then source, target.
    """
    if measure not in MEASURES:
        raise ValueError(f"unknown measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if top < 1:
        raise ValueError("top must be at least 1")
    freq = Counter(term for unit in units for term in unit.terms)
    chosen = [term for term, _ in sorted(freq.items(), key=lambda item: (-item[1], item[0]))[:top]]
    wanted = set(chosen)
    in_units: Counter = Counter()
    together: Counter = Counter()
    for unit in units:
        present = sorted(wanted.intersection(unit.terms))
        in_units.update(present)
        together.update(combinations(present, 2))
    n = len(units)
    nodes = [{"term": term, "freq": freq[term], "units": in_units[term]} for term in chosen]
    edges = []
    for (source, target), count in together.items():
        if count < min_count:
            continue
        na, nb = in_units[source], in_units[target]
        edge = {"source": source, "target": target, "count": count,
                "jaccard": count / (na + nb - count), "pmi": math.log2(count * n / (na * nb))}
        edge["weight"] = edge[measure]
        if edge["weight"] >= threshold:
            edges.append(edge)
    edges.sort(key=lambda e: (-e["weight"], -e["count"], e["source"], e["target"]))
    return nodes, edges


def network(nodes: list[dict], edges: list[dict]):
    """The networkx graph of ``cooccurrence`` rows: node id = term, the other columns as attributes."""
    import networkx as nx

    graph = nx.Graph()
    for node in nodes:
        graph.add_node(node["term"], **{k: v for k, v in node.items() if k != "term"})
    for edge in edges:
        attributes = {k: v for k, v in edge.items() if k not in ("source", "target")}
        graph.add_edge(edge["source"], edge["target"], **attributes)
    return graph


def write_graphml(nodes: list[dict], edges: list[dict], path: str | Path) -> None:
    """Write the network as GraphML (UTF-8; readable by Gephi, Cytoscape, networkx)."""
    import networkx as nx

    nx.write_graphml(network(nodes, edges), str(path), encoding="utf-8")


# --- drawing --------------------------------------------------------------------------------

def _covers(font_file: str, chars: str) -> str | None:
    """The font's family name if the file is a font with a glyph for every character, else None."""
    from matplotlib.ft2font import FT2Font

    try:
        font = FT2Font(font_file)
    except (OSError, RuntimeError, ValueError):
        return None
    # Last Resort fonts (matplotlib ships one) map every character to a placeholder box
    if font.family_name.startswith("Last Resort"):
        return None
    return font.family_name if all(font.get_char_index(ord(ch)) for ch in chars) else None


def find_cjk_font(font_path: str | None = None) -> str:
    """A font file that has glyphs for Chinese text.

    With ``font_path``, checks that file.  Otherwise looks through the fonts matplotlib
    knows and those on the system now (matplotlib's font cache may predate a font
    installed later), and returns the first covering font of ``CJK_FAMILIES`` order,
    then any other covering font, ties broken by file path.
    Raises ConfigError (code ``font-missing``) when there is none.
    """
    from matplotlib import font_manager

    if font_path is not None:
        if not _covers(str(font_path), CJK_SAMPLE):
            raise ConfigError(str(font_path), f"not a readable font with glyphs for Chinese ({CJK_SAMPLE}); "
                                              f"{FONT_HELP}", code="font-missing")
        return str(font_path)
    files = {entry.fname for entry in font_manager.fontManager.ttflist} | set(font_manager.findSystemFonts())
    rank = {family.casefold(): i for i, family in enumerate(CJK_FAMILIES)}
    found = []
    for font_file in sorted(files):
        family = _covers(font_file, CJK_SAMPLE)
        if family is not None:
            found.append((rank.get(family.casefold(), len(rank)), font_file))
    if not found:
        raise ConfigError("fonts", f"no installed font has glyphs for Chinese, so labels would show as boxes; "
                                   f"{FONT_HELP}", code="font-missing")
    return min(found)[1]


def _scale(values: list[float], low: float, high: float) -> list[float]:
    smallest, largest = min(values, default=0.0), max(values, default=0.0)
    if largest == smallest:
        return [(low + high) / 2] * len(values)
    return [low + (high - low) * (v - smallest) / (largest - smallest) for v in values]


@as_written
def draw_network(nodes: list[dict], edges: list[dict], path: str | Path, *, font_path: str | None = None,
                 seed: int = 0) -> str:
    """Draw the network to a PNG or SVG file (by suffix); returns the font file used for labels.

    Spring layout with a fixed ``seed`` (same input, same picture); node area grows with
    freq, edge width with weight.  Labels use ``find_cjk_font(font_path)``; in SVG the
    glyphs are stored as paths, so the file looks the same where that font is missing.
    """
    import matplotlib
    import networkx as nx
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    suffix = Path(path).suffix.lower()
    if suffix not in DRAW_FORMATS:
        raise ConfigError(str(path), f"can only draw {' or '.join(DRAW_FORMATS)} files", code="draw-format")
    font_file = find_cjk_font(font_path)
    graph = network(nodes, edges)
    # spring forces need positive strengths; PMI weights may be negative
    strengths = _scale([e["weight"] for e in edges], 0.2, 1.0)
    for edge, strength in zip(edges, strengths):
        graph.edges[edge["source"], edge["target"]]["strength"] = strength
    positions = nx.spring_layout(graph, seed=seed, weight="strength")

    size = max(6.0, 1.4 * math.sqrt(len(nodes)))
    figure = Figure(figsize=(size, size), dpi=150)
    FigureCanvasAgg(figure)  # pyplot-free: no global figure state, no GUI backend
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.margins(0.12)  # room for labels of nodes on the rim
    terms = [node["term"] for node in nodes]
    nx.draw_networkx_edges(graph, positions, ax=axes, edge_color="#9aa5b1",
                           width=_scale([e["weight"] for e in edges], 0.5, 4.0),
                           edgelist=[(e["source"], e["target"]) for e in edges])
    nx.draw_networkx_nodes(graph, positions, ax=axes, nodelist=terms, node_color="#f4c542", edgecolors="#8a6d00",
                           node_size=_scale([node["freq"] for node in nodes], 150.0, 1500.0))
    label_font = FontProperties(fname=font_file, size=10)
    for term in terms:
        x, y = positions[term]
        axes.text(x, y, term, fontproperties=label_font, ha="center", va="center")
    figure.tight_layout()
    # no creation date in SVG, so a re-run gives the same file
    metadata = {"Date": None} if suffix == ".svg" else None
    with matplotlib.rc_context({"svg.fonttype": "path"}):
        figure.savefig(str(path), format=suffix[1:], metadata=metadata)
    return font_file
