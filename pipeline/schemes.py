"""Policy-instrument schemes: YAML files (``codebooks/instruments/*.yaml``) → a validated ``Scheme``.

A scheme names its labels, groups its cue words (each group belongs to one label, with a weight and
a priority) and may declare context rules (a negation; pay owed to someone; money a body
administers).  ``"A…B"`` in a cue means A, then B within ``gap`` tokens.  Its ``flags`` are the
labels a coder marks present or absent on a clause besides the primary label, and those agreement,
training and evaluation score: every label but ``none`` unless the scheme names them.  Schemes are
data: a scholar writes their own, and every mistake in one is reported with the file and the line.  ``load_scheme("default")`` reads a shipped scheme; a path reads any file.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .yamlfile import Node, flag, items, locate, shipped_files, known, number, read_yaml, required, strings, text, unique

GAP = "…"
NONE = "none"
LANGUAGES = ("zh", "en")
CODE = "scheme-invalid"


@dataclass(frozen=True)
class Label:
    id: str
    name: str
    name_en: str = ""
    definition: str = ""
    notes: str = ""


@dataclass(frozen=True)
class Cue:
    text: str  # a word, a phrase, or "A…B"
    group: str
    label: str
    weight: float
    language: str

    @property
    def parts(self) -> list[str]:
        return [part.strip() for part in self.text.split(GAP)]


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    priority: int  # 1 dominates when choosing the primary label
    weight: float
    yields_to: tuple[str, ...] = ()  # groups whose presence cancels this one in a unit
    suppresses: tuple[str, ...] = ()  # labels whose cues this group cancels in a unit
    inside_words: bool = False  # a cue also fires inside a longer word (财政奖补资金 holds 奖补)
    cues: tuple[Cue, ...] = ()


@dataclass(frozen=True)
class ContextRule:
    """A word shortly before (or after) a cue, in the same sentence part (or sentence), or ending the
    lead-in of the cue's list item, moves the cue to another group."""

    id: str
    window: int  # characters before a cue (after it, with ``after``)
    words: tuple[str, ...]
    applies_to: tuple[str, ...]  # groups
    becomes: str  # group
    inside: bool = False  # the word may also stand inside the matched cue (给予实习学生…补贴)
    after: bool = False  # the word follows the cue: 已享受的政策支持予以追回
    lead_in: bool = False  # the word ends a list item's lead-in: 专项资金不得用于以下支出：（一）津贴补贴
    sentence: bool = False  # the word may stand anywhere in the sentence on that side, past its commas


@dataclass(frozen=True)
class Scheme:
    id: str
    version: str
    title: str
    labels: tuple[Label, ...]
    groups: tuple[Group, ...]
    gap: int = 8
    threshold: float = 2.0
    context_rules: tuple[ContextRule, ...] = ()  # in order; the first that applies to a cue moves it
    flags: tuple[str, ...] = ()  # presence flags: the labels coders mark 0/1 (see _flags)
    source: str = ""  # the file it was read from
    digest: str = ""  # sha256 of that file: a model trained under another digest is stale

    @property
    def label_ids(self) -> tuple[str, ...]:
        return tuple(label.id for label in self.labels)

    def group(self, group_id: str) -> Group:
        return next(group for group in self.groups if group.id == group_id)

    @property
    def cues(self) -> list[Cue]:
        return [cue for group in self.groups for cue in group.cues]


def shipped_schemes() -> dict[str, Path]:
    """Scheme name → file, for the schemes policoder ships."""
    return shipped_files("instruments")


def load_scheme(name_or_path: str | Path, *, root: Path | None = None) -> Scheme:
    """A shipped scheme by name (``default``, ``rothwell_zegveld``) or a YAML file (relative to ``root``).
    A file is parsed once per content (a ``Scheme`` is immutable); an edited file is parsed again."""
    path = locate(name_or_path, shipped_schemes(), root, what="scheme")
    try:
        content = path.read_bytes()
    except FileNotFoundError:  # gone since it was located
        raise ConfigError(str(path), "file not found", code=CODE) from None
    return _parse(path, content)


@functools.lru_cache(maxsize=8)
def _parse(path: Path, content: bytes) -> Scheme:
    root = read_yaml(path, code=CODE, content=content)
    if not isinstance(root.value, dict):
        raise root.error("a scheme is a mapping with scheme, version, labels and groups")
    known(root, {"scheme", "version", "title", "gap", "threshold", "flags", "labels", "context_rules", "groups"})
    labels = tuple(_label(node) for node in items(root, "labels"))
    label_ids = [label.id for label in labels]
    if NONE not in label_ids:  # what a unit with no instrument gets
        raise root["labels"].error(f"the labels must include {NONE!r} (units without an instrument)")
    unique(items(root, "labels"), "label")
    flags = _flags(root, label_ids)
    groups_nodes = items(root, "groups")
    unique(groups_nodes, "group")
    group_ids = {node["id"].value for node in groups_nodes}
    rule_nodes = items(root, "context_rules") if "context_rules" in root.children else []
    unique(rule_nodes, "context rule")
    context_rules = tuple(_context_rule(node, group_ids) for node in rule_nodes)
    groups = tuple(_group(node, label_ids, group_ids) for node in groups_nodes)
    gap = number(root, "gap", 8, int)
    threshold = number(root, "threshold", 2.0, float)
    return Scheme(
        id=text(root, "scheme"), version=str(required(root, "version").value), title=text(root, "title", ""),
        labels=labels, groups=groups, gap=gap, threshold=threshold, context_rules=context_rules,
        flags=flags, source=str(path),
        digest=hashlib.sha256(content).hexdigest(),
    )


def _flags(root: Node, label_ids: list[str]) -> tuple[str, ...]:
    """The presence flags the scheme names (``flags: [incentive, constraint]``: the binary view of
    Chinese policy-tool studies), in its order; without the key, every label but none."""
    if "flags" not in root.children:
        return tuple(label for label in label_ids if label != NONE)
    node = root["flags"]
    flags = strings(root, "flags")
    if not flags:
        raise node.error(f"flags must list one label or more of {', '.join(label_ids)}")
    for index, (flag_id, item) in enumerate(zip(flags, node.children)):
        if flag_id == NONE:
            raise item.error(f"{NONE!r} cannot be a flag: it is a primary label only")
        if flag_id not in label_ids:
            raise item.error(f"flag {flag_id!r} is not one of the scheme's labels ({', '.join(label_ids)})")
        if flag_id in flags[:index]:
            raise item.error(f"flag {flag_id!r} appears twice")
    return tuple(flags)


def _label(node: Node) -> Label:
    known(node, {"id", "name", "name_en", "definition", "notes"})
    return Label(id=text(node, "id"), name=text(node, "name"), name_en=text(node, "name_en", ""),
                 definition=text(node, "definition", ""), notes=text(node, "notes", ""))


def _group(node: Node, label_ids: list[str], group_ids: set[str]) -> Group:
    known(node, {"id", "label", "priority", "weight", "yields_to", "suppresses", "inside_words", "cues"})
    group_id, label = text(node, "id"), text(node, "label")
    if label not in label_ids:
        raise node["label"].error(f"group {group_id!r}: label {label!r} is not one of the scheme's labels "
                                  f"({', '.join(label_ids)})")
    weight = number(node, "weight", 1.0, float)
    yields_to = tuple(strings(node, "yields_to"))
    for other, item in zip(yields_to, node.get("yields_to").children if node.get("yields_to") else []):
        if other not in group_ids:
            raise item.error(f"group {group_id!r} yields to unknown group {other!r}")
    suppresses = tuple(strings(node, "suppresses"))
    for other, item in zip(suppresses, node.get("suppresses").children if node.get("suppresses") else []):
        if other not in label_ids:
            raise item.error(f"group {group_id!r} suppresses unknown label {other!r}")
    inside = flag(node, "inside_words")
    cues: list[Cue] = []
    cue_node = node.get("cues")
    if cue_node is not None and cue_node.value not in ({}, None):
        if not isinstance(cue_node.value, dict):
            raise cue_node.error(f"group {group_id!r}: cues is a mapping of language (zh, en) to a list")
        for language, words in cue_node.children.items():
            if language not in LANGUAGES:
                raise words.error(f"group {group_id!r}: unknown cue language {language!r}; use zh or en")
            if not isinstance(words.value, list):
                raise words.error(f"group {group_id!r}: cues.{language} must be a list")
            for item in words.children:
                cue = _cue(item, group_id, label, weight, language)
                if cue.text.startswith("^") and not (language == "zh" and inside):
                    raise item.error(f"cue {cue.text!r}: '^' (at the start of the unit) needs a Chinese cue in a "
                                     f"group with inside_words: true")
                cues.append(cue)
    return Group(id=group_id, label=label, priority=number(node, "priority", 9, int), weight=weight,
                 yields_to=yields_to, suppresses=suppresses, inside_words=inside,
                 cues=tuple(cues))


def _cue(node: Node, group: str, label: str, weight: float, language: str) -> Cue:
    """A cue is a string, or a one-entry mapping ``{cue: weight}``."""
    value = node.value
    if isinstance(value, dict) and len(value) == 1:
        (cue_text, cue_weight), = value.items()
        if not isinstance(cue_weight, (int, float)) or isinstance(cue_weight, bool):
            raise node.error(f"cue {cue_text!r}: weight must be a number")
        weight, value = float(cue_weight), cue_text
    if not isinstance(value, str) or not value.strip():
        raise node.error(f"group {group!r}: a cue must be a non-empty word or phrase, got {value!r}")
    parts = [part.strip() for part in value.split(GAP)]
    if any(not part for part in parts):
        raise node.error(f"cue {value!r}: '{GAP}' must stand between two words")
    return Cue(text=value.strip(), group=group, label=label, weight=weight, language=language)


def _context_rule(node: Node, group_ids: set[str]) -> ContextRule:
    known(node, {"id", "window", "words", "applies_to", "becomes", "inside", "after", "lead_in", "sentence"})
    rule_id = text(node, "id")
    applies_to = tuple(strings(node, "applies_to"))
    becomes = text(node, "becomes")
    named = zip((*applies_to, becomes), (*required(node, "applies_to").children, required(node, "becomes")))
    for group, where in named:
        if group not in group_ids:
            raise where.error(f"context rule {rule_id!r} names unknown group {group!r}")
    if flag(node, "lead_in") and flag(node, "sentence"):  # the lead-in's end is read, not a sentence
        raise required(node, "sentence").error(f"context rule {rule_id!r}: sentence does not apply to a lead_in rule")
    return ContextRule(id=rule_id, window=number(node, "window", 6, int), words=tuple(strings(node, "words")),
                       applies_to=applies_to, becomes=becomes, inside=flag(node, "inside"), after=flag(node, "after"),
                       lead_in=flag(node, "lead_in"), sentence=flag(node, "sentence"))
