"""policoder.toml → frozen dataclasses.

Every key is known: an unknown or mistyped key is an error naming ``section.key``, because a
silently ignored setting makes a run irreproducible.
"""
from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

from .errors import ConfigError, rewrite_checked
from .records import PDF_ENGINES, UNIT_CHOICES

CONFIG_NAME = "policoder.toml"
KIND_CHOICES = ("auto", "policy", "transcript")
TOKENIZER_ENGINES = ("rjieba", "jieba")


@dataclass(frozen=True)
class ProjectSection:
    name: str = "policoder project"
    corpus: tuple[str, ...] = ("corpus",)  # folders or files that `policoder run` ingests
    database: str = "policoder.db"  # relative to the project folder; never under outputs/
    outputs: str = "outputs"
    seed: int = 20261123


@dataclass(frozen=True)
class IngestSection:
    kind: str = "auto"
    unit: str = "item"
    pdf_engine: str = "pdfium"
    workers: int = 1


@dataclass(frozen=True)
class TokenizeSection:
    engine: str = "rjieba"  # rjieba (fast, same segmentation as jieba) | jieba
    dictionaries: tuple[str, ...] = ()  # extra user dictionaries (jieba format), relative to the project
    stopwords: tuple[str, ...] = ()  # extra stop-word files, one word per line
    keep_stopwords: bool = False
    workers: int = 1


@dataclass(frozen=True)
class InstrumentsSection:
    scheme: str = "default"  # a shipped scheme (default, rothwell_zegveld) or a YAML file in the project
    model: str = ""  # a trained model file (policoder instruments train); empty: the scheme's rules
    reconciled_coder: str = "reconciled"  # who reconciled labels are recorded as (they stand over the coders')


@dataclass(frozen=True)
class TopicsSection:
    k: int = 0  # topics; 0: choose K by the sweep's c_v coherence
    sweep: str = "3..8"  # the K values `policoder run` tries when k = 0
    per: str = "document"  # document | unit
    method: str = "lda"  # lda | nmf
    no_below: int = 2  # a term must occur in at least this many texts
    no_above: float = 0.5  # and in at most this share of them
    phrases: bool = False  # join frequent bigrams (gensim Phrases)
    refit_after: float = 0.1  # `policoder run` folds changed texts into its model until this share has changed


@dataclass(frozen=True)
class CodingSection:
    codebook: str = ""  # a codebook YAML in the project, or a shipped one (iei_interviews, performance_four_dimensions)
    require_definitions: bool = True  # every code needs a definition
    auto_kinds: tuple[str, ...] = ("transcript",)  # documents the codebook's auto-coding rules code
    consensus_coder: str = "consensus"  # who reconciled codings are recorded as


@dataclass(frozen=True)
class AgreementSection:
    unit: str = "unit"  # unit (turns, clauses) | segment (fixed length) | span (overlapping codings)
    segment_length: int = 200  # code points per segment
    overlap: float = 0.5  # spans match when intersection / union reaches this
    boot: int = 500  # bootstrap draws for alpha's confidence interval
    include_machine: bool = False  # count the machine coder (auto) as a coder beside the humans, marked apart


@dataclass(frozen=True)
class SurveySection:
    files: tuple[str, ...] = ()  # survey schema YAML files (each names its CSV/XLSX data file)


@dataclass(frozen=True)
class IndicatorsSection:
    files: tuple[str, ...] = ()  # indicator-table schema YAML files (columns, derived formulas, bands)


@dataclass(frozen=True)
class TriangulationSection:
    themes: str = ""  # the themes file mapping each theme to its evidence in every source
    judgements: str = "triangulation"  # folder of the researchers' convergence labels and meta-inferences
    prominence: str = "tertiles"  # tertiles of the share within each data set, or two cut-offs "0.2,0.5"
    min_sources: int = 1  # fewer documents / participants with the theme than this is a silence
    exemplars: int = 2  # quotes per theme and source


@dataclass(frozen=True)
class RunSection:
    executor: str = "local"  # where the per-document stages run: local processes | dask
    scheduler: str = ""  # the Dask scheduler's address (tcp://host:8786), for executor = "dask"


@dataclass(frozen=True)
class Config:
    root: Path
    project: ProjectSection = field(default_factory=ProjectSection)
    ingest: IngestSection = field(default_factory=IngestSection)
    tokenize: TokenizeSection = field(default_factory=TokenizeSection)
    instruments: InstrumentsSection = field(default_factory=InstrumentsSection)
    topics: TopicsSection = field(default_factory=TopicsSection)
    coding: CodingSection = field(default_factory=CodingSection)
    agreement: AgreementSection = field(default_factory=AgreementSection)
    survey: SurveySection = field(default_factory=SurveySection)
    indicators: IndicatorsSection = field(default_factory=IndicatorsSection)
    triangulation: TriangulationSection = field(default_factory=TriangulationSection)
    run: RunSection = field(default_factory=RunSection)

    @property
    def path(self) -> Path:
        return self.root / CONFIG_NAME

    def as_dict(self) -> dict:
        """The resolved settings, as written into every run manifest."""
        return {
            name: {f.name: list(v) if isinstance(v := getattr(getattr(self, name), f.name), tuple) else v
                   for f in fields(getattr(self, name))}
            for name in _SECTIONS
        }


_SECTIONS = {"project": ProjectSection, "ingest": IngestSection, "tokenize": TokenizeSection,
             "instruments": InstrumentsSection, "topics": TopicsSection, "coding": CodingSection,
             "agreement": AgreementSection, "survey": SurveySection, "indicators": IndicatorsSection,
             "triangulation": TriangulationSection, "run": RunSection}
_CHOICES = {
    ("ingest", "kind"): KIND_CHOICES,
    ("ingest", "unit"): UNIT_CHOICES,
    ("ingest", "pdf_engine"): PDF_ENGINES,
    ("tokenize", "engine"): TOKENIZER_ENGINES,
    ("topics", "per"): ("document", "unit"),
    ("topics", "method"): ("lda", "nmf"),
    ("agreement", "unit"): ("unit", "segment", "span"),
    ("run", "executor"): ("local", "dask"),
}


def _coerce(path: Path, key: str, value, default):
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(path, "expected a string or a list of strings", key=key)
        return tuple(value)
    expected = type(default)
    # bool is an int in Python; a seed of `true` is still a mistake
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise ConfigError(path, f"expected {expected.__name__}, got {type(value).__name__} {value!r}", key=key)
    return value


def _section(path: Path, name: str, values) -> object:
    cls = _SECTIONS[name]
    if not isinstance(values, dict):
        raise ConfigError(path, "expected a [table]", key=name)
    defaults = {f.name: f.default for f in fields(cls)}
    settings = {}
    for key, value in values.items():
        dotted = f"{name}.{key}"
        if key not in defaults:
            raise ConfigError(path, f"unknown key (known: {', '.join(defaults)})", key=dotted)
        settings[key] = _coerce(path, dotted, value, defaults[key])
        choices = _CHOICES.get((name, key))
        if choices and settings[key] not in choices:
            raise ConfigError(path, f"{settings[key]!r} is not one of {', '.join(choices)}", key=dotted)
    if settings.get("workers", 1) < 1:
        raise ConfigError(path, "must be at least 1", key=f"{name}.workers")
    return cls(**settings)


def _check_topics(path: Path, section: TopicsSection) -> None:
    from .topics import k_range

    try:
        k_range(section.sweep)
    except ValueError as error:
        raise ConfigError(path, str(error), key="topics.sweep") from None
    if section.k == 1 or section.k < 0:
        raise ConfigError(path, "must be 0 (choose by the sweep) or at least 2", key="topics.k")
    if not 0 < section.no_above <= 1:
        raise ConfigError(path, "must be a share above 0 and at most 1", key="topics.no_above")
    if not 0 <= section.refit_after <= 1:
        raise ConfigError(path, "must be a share from 0 (refit on every change) to 1", key="topics.refit_after")


def _check_agreement(path: Path, section: AgreementSection, coding: CodingSection) -> None:
    if section.segment_length < 1:
        raise ConfigError(path, "must be at least 1", key="agreement.segment_length")
    if not 0 < section.overlap <= 1:
        raise ConfigError(path, "must be a share above 0 and at most 1", key="agreement.overlap")
    for kind in coding.auto_kinds:
        if kind not in ("policy", "transcript"):
            raise ConfigError(path, f"{kind!r} is not one of policy, transcript", key="coding.auto_kinds")


def prominence_cutoffs(setting: str) -> tuple[float, float] | None:
    """None for tertiles; else the two shares at which prominence turns medium and high."""
    if setting == "tertiles":
        return None
    try:
        low, high = (float(part) for part in setting.split(","))
    except ValueError:
        raise ValueError(f"{setting!r}: write tertiles or two shares, e.g. 0.2,0.5") from None
    if not 0 <= low < high <= 1:
        raise ValueError(f"{setting!r}: the cut-offs must rise within 0..1")
    return low, high


def _check_triangulation(path: Path, section: TriangulationSection, outputs: Path, root: Path) -> None:
    try:
        prominence_cutoffs(section.prominence)
    except ValueError as error:
        raise ConfigError(path, str(error), key="triangulation.prominence") from None
    if section.min_sources < 1 or section.exemplars < 0:
        raise ConfigError(path, "min_sources must be at least 1 and exemplars 0 or more", key="triangulation")
    if (root / section.judgements).resolve().is_relative_to(outputs):
        raise ConfigError(path, "researchers' judgements must not live under outputs/ (outputs can be deleted)",
                          key="triangulation.judgements")


def load_config(root: str | Path) -> Config:
    """Read ``<root>/policoder.toml``; a folder without one is not a project."""
    root = Path(root).resolve()
    path = root / CONFIG_NAME
    if not path.is_file():
        raise ConfigError(path, "not found; create a project with `policoder init DIR`", code="config-missing")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(path, f"not valid TOML: {error}", code="config-syntax") from None
    for name in raw:
        if name not in _SECTIONS:
            raise ConfigError(path, f"unknown section (known: {', '.join(_SECTIONS)})", key=name)
    sections = {name: _section(path, name, raw.get(name, {})) for name in _SECTIONS}
    _check_topics(path, sections["topics"])
    _check_agreement(path, sections["agreement"], sections["coding"])
    database = Path(sections["project"].database)
    outputs = (root / sections["project"].outputs).resolve()
    if (root / database).resolve().is_relative_to(outputs):
        raise ConfigError(path, "the database must not live under outputs/ (outputs can be deleted)", key="project.database")
    _check_triangulation(path, sections["triangulation"], outputs, root)
    return Config(root=root, **sections)


def set_setting(root: str | Path, section: str, key: str, value: str) -> Config:
    """Write one text setting into ``policoder.toml``, keeping the rest of the file (comments too),
    and read the configuration again; the file is restored if the result is not valid."""
    path = Path(root) / CONFIG_NAME
    original = path.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    quoted = json.dumps(value, ensure_ascii=False)  # a TOML basic string
    header = next((i for i, line in enumerate(lines) if line.strip() == f"[{section}]"), None)
    if header is None:
        lines += ["\n" if lines and not lines[-1].endswith("\n") else "", f"[{section}]\n", f"{key} = {quoted}\n"]
    else:
        end = next((i for i in range(header + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        found = next((i for i in range(header + 1, end) if re.match(rf"\s*{re.escape(key)}\s*=", lines[i])), None)
        if found is None:
            lines.insert(header + 1, f"{key} = {quoted}\n")
        else:  # only the value changes: a comment after it stays
            line = re.match(r"""(\s*\S+\s*=\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^#\s]*)(.*)""", lines[found], re.S)
            lines[found] = line.group(1) + quoted + line.group(3)
    return rewrite_checked(path, "".join(lines), lambda: load_config(root))


TEMPLATE = """\
# policoder project configuration; every key is optional, unknown keys are errors.
[project]
name = "{name}"
corpus = ["corpus"]          # folders or files that `policoder run` ingests
database = "policoder.db"    # the project store: human codings live here, never under outputs/
outputs = "outputs"          # regenerated by every run; safe to delete
seed = 20261123

[ingest]
kind = "auto"                # auto | policy | transcript
unit = "item"                # item | sentence
pdf_engine = "pdfium"        # pdfium (fast) | pdfplumber
workers = 1

[tokenize]
engine = "rjieba"            # rjieba (fast) | jieba: the same segmentation and dictionary
dictionaries = []            # your own dictionary files (jieba format: word [freq] [tag])
stopwords = []               # your own stop-word files (one word per line)
keep_stopwords = false
workers = 1

[instruments]
scheme = "default"           # default | rothwell_zegveld | a scheme YAML file of your own
model = ""                   # a model from `policoder instruments train`; empty: the scheme's rules
reconciled_coder = "reconciled"  # who `instruments reconcile` records decisions as; they stand over the coders'

[topics]
k = 0                        # topics `policoder run` fits; 0: choose K by c_v coherence over `sweep`
sweep = "3..8"
per = "document"             # document | unit
method = "lda"               # lda | nmf (a robustness check)
no_below = 2                 # a term must occur in at least this many texts
no_above = 0.5               # and in at most this share of them
phrases = false              # join frequent bigrams first (gensim Phrases)
refit_after = 0.1            # run: fold changed texts into the model until this share changed; 0: always refit

[coding]
codebook = "iei_interviews"  # a codebook YAML of your own (codebooks/…) or a shipped example:
                             # iei_interviews | performance_four_dimensions
require_definitions = true   # every code needs a definition
auto_kinds = ["transcript"]  # what the codebook's auto-coding rules code (transcript, policy)
consensus_coder = "consensus"

[agreement]
unit = "unit"                # unit (turns, clauses) | segment | span (overlapping codings)
segment_length = 200         # code points per segment (unit = "segment")
overlap = 0.5                # spans match at this intersection / union (unit = "span")
boot = 500                   # bootstrap draws for the interval of Krippendorff's alpha
include_machine = false      # also count the machine coder (auto) as a coder (marked apart); default: humans only

[survey]
files = []                   # survey schema YAML files, each naming its CSV/XLSX data file

[indicators]
files = []                   # indicator-table schema YAML files (columns, derived formulas, bands)

[triangulation]
themes = ""                  # the themes file: each theme mapped to its evidence in every source
judgements = "triangulation" # researchers' convergence labels and meta-inferences (kept across runs)
prominence = "tertiles"      # tertiles of the share within each data set, or two cut-offs "0.2,0.5"
min_sources = 1              # fewer documents / participants with a theme than this: silence
exemplars = 2                # quotes per theme and source

[run]
executor = "local"           # where ingest, segment and tokenize run: local (processes) | dask
scheduler = ""               # the Dask scheduler's address for executor = "dask", e.g. tcp://10.0.0.5:8786
"""
