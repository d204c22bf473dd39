"""Codebooks: YAML files (``codebooks/*.yaml``) → a validated, versioned ``Codebook``.

A codebook is a tree of codes.  Each code has an id, a name, a definition, when to use it
(``include``) and when not (``exclude``), typical and atypical examples, and optionally a colour, a
stance (used by triangulation), whether it can be applied (``codable: false`` for pure
containers) and auto-coding rules.  The tree is written nested (``children``) or flat
(``parent``), or both.

The codebook has an integer ``version``, and restructuring is written down as ``changes``: each
change names the version it made and one operation, ``rename`` (from → to), ``merge`` (from [a, b]
→ into), ``move`` (code → new parent) or ``split`` (from → into [b, c]).  Codings record the
version they were made under and are never rewritten: ``Codebook.resolve`` replays the changes
made since, so that a coding of a renamed code counts for its new name, and the coding of a split
code is given to the first of its parts and flagged for a coder to review.

Every mistake is reported with the file and the line (``ConfigError``, code ``codebook-invalid``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError, rewrite_checked
from .yamlfile import Node, known, locate, read_yaml, required, shipped_files, strings, text

CODE = "codebook-invalid"
STANCES = ("positive", "negative", "neutral", "mixed")
OPERATIONS = ("rename", "merge", "move", "split")
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*\Z")
COLOUR = re.compile(r"#[0-9A-Fa-f]{6}\Z")
CODE_KEYS = {"id", "name", "name_en", "parent", "definition", "include", "exclude", "examples",
             "atypical_examples", "color", "stance", "codable", "auto", "children"}
AUTO_KEYS = {"keywords", "regex", "patterns", "inside"}


@dataclass(frozen=True)
class AutoRules:
    """When the machine coder applies a code: any keyword (a substring; Latin letters ignore case),
    regular expression or spaCy ``Matcher`` token pattern found in a unit, and, with ``inside``, only
    in units where that other code fired too."""

    keywords: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()  # each a JSON list of spaCy token dicts
    inside: str | None = None

    def __bool__(self) -> bool:
        return bool(self.keywords or self.regex or self.patterns)


@dataclass(frozen=True)
class Code:
    id: str
    name: str
    parent: str | None
    line: int
    name_en: str = ""
    definition: str = ""
    include: str = ""
    exclude: str = ""
    examples: tuple[str, ...] = ()
    atypical_examples: tuple[str, ...] = ()
    color: str = ""
    stance: str = ""
    codable: bool = True
    auto: AutoRules = AutoRules()


@dataclass(frozen=True)
class Change:
    version: int
    operation: str
    sources: tuple[str, ...]  # rename/merge/split: the old code(s); move: the code moved
    targets: tuple[str, ...]  # rename/merge: one new code; split: its parts; move: the new parent ('' = top)
    line: int

    def describe(self) -> str:
        if self.operation == "move":
            return f"v{self.version}: move {self.sources[0]} under {self.targets[0] or '(top level)'}"
        arrow = " + ".join(self.sources) + " → " + " | ".join(self.targets)
        return f"v{self.version}: {self.operation} {arrow}"


@dataclass(frozen=True)
class Resolved:
    """Where a code recorded under an old version stands now."""

    code: str  # the current code id (the recorded one when nothing changed or it is unknown)
    known: bool  # the code exists in the current codebook
    notes: tuple[str, ...] = ()  # what happened on the way ("renamed from …", "split: review")

    @property
    def needs_review(self) -> bool:
        return not self.known or any(note.startswith("split") for note in self.notes)


@dataclass(frozen=True)
class Codebook:
    id: str
    name: str
    version: int
    codes: tuple[Code, ...]  # tree order: each parent before its children
    changes: tuple[Change, ...] = ()
    name_en: str = ""
    language: str = ""
    description: str = ""
    source: str = ""
    digest: str = ""
    by_id: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self):
        self.by_id.update({code.id: code for code in self.codes})

    def children(self, code_id: str | None) -> list[Code]:
        return [code for code in self.codes if code.parent == code_id]

    def ancestors(self, code_id: str) -> list[Code]:
        """The code and its parents, top level first."""
        chain = []
        code = self.by_id.get(code_id)
        while code is not None:
            chain.append(code)
            code = self.by_id.get(code.parent) if code.parent else None
        return chain[::-1]

    def path(self, code_id: str) -> str:
        """The code's full path of names, as coded-segment tables show it (产教融合 / 企业参与)."""
        return " / ".join(code.name for code in self.ancestors(code_id)) or code_id

    def depth(self, code_id: str) -> int:
        return len(self.ancestors(code_id)) - 1

    @property
    def codable(self) -> list[str]:
        return [code.id for code in self.codes if code.codable]

    @functools.cached_property
    def rule_version(self) -> str:  # cached: asked once per machine coding
        """A hash of every auto-coding rule: machine codings made by other rules are redone."""
        rules = [[code.id, code.auto.keywords, code.auto.regex, code.auto.patterns, code.auto.inside]
                 for code in self.codes if code.auto]
        return hashlib.sha256(json.dumps(rules, ensure_ascii=False).encode("utf-8")).hexdigest()[:12]

    def resolve(self, code_id: str, made_under: int | None) -> Resolved:
        """Replay the changes made after version ``made_under`` on a recorded code."""
        notes: list[str] = []
        current = code_id
        for change in self.changes:
            if made_under is not None and change.version <= made_under:
                continue
            if change.operation != "move" and current in change.sources:
                notes.append(f"{change.operation}d from {current} in v{change.version}"
                             if change.operation != "split" else
                             f"split from {current} in v{change.version}: review (now {' | '.join(change.targets)})")
                current = change.targets[0]
        return Resolved(current, current in self.by_id, tuple(notes))


def shipped_codebooks() -> dict[str, Path]:
    """The example codebooks policoder ships (``iei_interviews``, ``performance_four_dimensions``)."""
    return shipped_files()


def load_codebook(name_or_path: str | Path, *, root: Path | None = None, require_definitions: bool = True) -> Codebook:
    """Read and check a shipped codebook by name, or a file (relative to the project ``root``).
    ``require_definitions``: every code needs a definition."""
    path = locate(name_or_path, shipped_codebooks(), root, what="codebook")
    root = read_yaml(path, code=CODE)
    known(root, {"id", "name", "name_en", "version", "language", "description", "codes", "changes"})
    ident = text(root, "id")
    if not IDENTIFIER.match(ident):
        raise root["id"].error(f"codebook id {ident!r} must start with a letter and hold only letters, digits, _ . -")
    version = _version(required(root, "version"))
    codes_node = required(root, "codes")
    if not isinstance(codes_node.value, list) or not codes_node.value:
        raise codes_node.error("codes must be a non-empty list")
    nodes: list[tuple[Node, str | None]] = []
    _flatten(codes_node.children, None, nodes)
    codes = [_code(node, parent, require_definitions) for node, parent in nodes]
    _check_tree([(code, node) for code, (node, _) in zip(codes, nodes)])
    by_id = {code.id: code for code in codes}
    for code, (node, _) in zip(codes, nodes):
        inside = code.auto.inside
        if inside and (inside not in by_id or inside == code.id):
            raise node["auto"]["inside"].error(f"code {code.id!r}: auto.inside names "
                                               f"{'itself' if inside == code.id else f'unknown code {inside!r}'}")
    changes = _changes(root.get("changes"), version, by_id)
    return Codebook(
        id=ident, name=text(root, "name"), version=version, codes=tuple(_tree_order(codes)), changes=changes,
        name_en=text(root, "name_en", ""), language=text(root, "language", ""),
        description=text(root, "description", ""), source=str(path),
        digest=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def _version(node: Node) -> int:
    if not isinstance(node.value, int) or isinstance(node.value, bool) or node.value < 1:
        raise node.error(f"version must be a whole number of 1 or more, got {node.value!r}")
    return node.value


def _flatten(items: list[Node], parent: str | None, out: list[tuple[Node, str | None]]) -> None:
    for node in items:
        known(node, CODE_KEYS)
        out.append((node, parent))
        children = node.get("children")
        if children is not None:
            if not isinstance(children.value, list):
                raise children.error("children must be a list of codes")
            if node.get("parent") is not None:
                raise node["parent"].error("a nested code takes its parent from where it stands; drop 'parent'")
            _flatten(children.children, text(node, "id"), out)


def _code(node: Node, parent: str | None, require_definitions: bool) -> Code:
    ident = text(node, "id")
    if not IDENTIFIER.match(ident):
        raise node["id"].error(f"code id {ident!r} must start with a letter and hold only letters, digits, _ . -")
    if parent is None and node.get("parent") is not None and node["parent"].value is not None:
        parent = text(node, "parent")
    definition = _optional_text(node, "definition")
    if require_definitions and not definition:
        raise (node.get("definition") or node).error(f"code {ident!r} has no definition (this project requires one "
                                                     f"for every code; [coding] require_definitions)")
    color = _optional_text(node, "color")
    if color and not COLOUR.match(color):
        raise node["color"].error(f"code {ident!r}: color must look like #1f77b4, got {color!r}")
    stance = _optional_text(node, "stance")
    if stance and stance not in STANCES:
        raise node["stance"].error(f"code {ident!r}: stance must be one of {', '.join(STANCES)}, got {stance!r}")
    codable = node.get("codable")
    if codable is not None and not isinstance(codable.value, bool):
        raise codable.error(f"code {ident!r}: codable must be true or false")
    return Code(
        id=ident, name=text(node, "name"), parent=parent, line=node.line, name_en=_optional_text(node, "name_en"),
        definition=definition, include=_optional_text(node, "include"), exclude=_optional_text(node, "exclude"),
        examples=tuple(strings(node, "examples")), atypical_examples=tuple(strings(node, "atypical_examples")),
        color=color.lower(), stance=stance, codable=codable.value if codable is not None else True,
        auto=_auto(node.get("auto"), ident),
    )


def _optional_text(node: Node, key: str) -> str:
    child = node.get(key)
    if child is None or child.value is None:
        return ""
    if not isinstance(child.value, (str, int, float)) or isinstance(child.value, bool):
        raise child.error(f"{key} must be a text")
    return str(child.value).strip()


def _auto(node: Node | None, ident: str) -> AutoRules:
    if node is None:
        return AutoRules()
    known(node, AUTO_KEYS)
    for item in (node.get("regex").children if node.get("regex") is not None else []):
        try:
            re.compile(item.value)
        except (re.error, TypeError) as error:
            raise item.error(f"code {ident!r}: auto.regex {item.value!r} is not a valid regular expression ({error})")
    patterns = []
    patterns_node = node.get("patterns")
    if patterns_node is not None:
        if not isinstance(patterns_node.value, list):
            raise patterns_node.error(f"code {ident!r}: auto.patterns must be a list of token patterns")
        for item in patterns_node.children:
            _check_pattern(item, ident)
            patterns.append(json.dumps(item.value, ensure_ascii=False, sort_keys=True))
    inside = node.get("inside")
    return AutoRules(keywords=tuple(strings(node, "keywords")), regex=tuple(strings(node, "regex")),
                     patterns=tuple(patterns), inside=text(node, "inside") if inside is not None else None)


def _check_pattern(node: Node, ident: str) -> None:
    """A spaCy Matcher pattern (a list of token dicts), checked by spaCy's own validator."""
    from spacy.errors import MatchPatternError
    from spacy.matcher import Matcher
    from spacy.vocab import Vocab

    if not isinstance(node.value, list) or not node.value or not all(isinstance(t, dict) for t in node.value):
        raise node.error(f"code {ident!r}: a token pattern is a list of token mappings such as {{LOWER: school}}")
    try:
        Matcher(Vocab(), validate=True).add(ident, [node.value])
    except (MatchPatternError, ValueError) as error:
        message = " ".join(str(error).split())
        raise node.error(f"code {ident!r}: not a valid spaCy token pattern ({message[:160]})") from None


def _check_tree(pairs: list[tuple[Code, Node]]) -> None:
    first: dict[str, Code] = {}
    for code, node in pairs:
        if code.id in first:
            raise node.error(f"code id {code.id!r} appears twice (first on line {first[code.id].line})")
        first[code.id] = code
    for code, node in pairs:
        if code.parent is not None and code.parent not in first:
            raise node.error(f"code {code.id!r} has unknown parent {code.parent!r}")
    for code, node in pairs:
        chain, current = [code.id], code.parent
        while current is not None:
            if current in chain:
                raise node.error(f"codes form a cycle: {' → '.join(chain + [current])}")
            chain.append(current)
            current = first[current].parent


def _tree_order(codes: list[Code]) -> list[Code]:
    ordered: list[Code] = []

    def visit(parent: str | None) -> None:
        for code in codes:
            if code.parent == parent:
                ordered.append(code)
                visit(code.id)

    visit(None)
    return ordered


def _changes(node: Node | None, version: int, by_id: dict[str, Code]) -> tuple[Change, ...]:
    if node is None:
        return ()
    if not isinstance(node.value, list):
        raise node.error("changes must be a list of {version, rename|merge|move|split}")
    changes: list[Change] = []
    for item in node.children:
        known(item, {"version", *OPERATIONS, "note"})
        made = _version(required(item, "version"))
        if made > version:
            raise item["version"].error(f"change made in version {made}, but the codebook is at version {version}")
        if changes and made < changes[-1].version:
            raise item["version"].error("changes must be listed oldest first")
        operations = [key for key in OPERATIONS if key in item.children]
        if len(operations) != 1:
            raise item.error(f"each change holds exactly one of {', '.join(OPERATIONS)}")
        changes.append(_change(item, item[operations[0]], operations[0], made))
    _check_changes(changes, node, by_id)
    return tuple(changes)


def _change(item: Node, node: Node, operation: str, made: int) -> Change:
    if operation == "rename":
        known(node, {"from", "to"})
        return Change(made, operation, (text(node, "from"),), (text(node, "to"),), item.line)
    if operation == "merge":
        known(node, {"from", "into"})
        sources = strings(node, "from")
        if len(sources) < 1:
            raise node.error("merge.from lists the codes merged")
        return Change(made, operation, tuple(sources), (text(node, "into"),), item.line)
    if operation == "split":
        known(node, {"from", "into"})
        targets = strings(node, "into")
        if len(targets) < 2:
            raise node.error("split.into lists two codes or more (codings go to the first, flagged for review)")
        return Change(made, operation, (text(node, "from"),), tuple(targets), item.line)
    known(node, {"code", "to"})
    parent = node["to"].value if node.get("to") is not None else None
    return Change(made, operation, (text(node, "code"),), (str(parent) if parent else "",), item.line)


def _check_changes(changes: list[Change], node: Node, by_id: dict[str, Code]) -> None:
    """Old names must be gone from the tree, new names present, and the last move must match it."""
    error = lambda change, message: ConfigError(str(node.path), message, key=f"line {change.line}", code=CODE)  # noqa: E731
    retired = set()
    for change in changes:
        if change.operation == "move":
            continue
        retired |= {source for source in change.sources if source not in change.targets}
    for change in changes:
        if change.operation == "move":
            code, parent = change.sources[0], change.targets[0]
            if code not in by_id and code not in retired:
                raise error(change, f"move: unknown code {code!r}")
            last = [c for c in changes if c.operation == "move" and c.sources[0] == code][-1]
            if change is last and code in by_id and (by_id[code].parent or "") != parent:
                raise error(change, f"move: code {code!r} should now stand under {parent or '(top level)'}, "
                                    f"but the tree puts it under {by_id[code].parent or '(top level)'}")
            continue
        for source in change.sources:
            if source in by_id and source not in change.targets and not _restored(source, change, changes):
                raise error(change, f"{change.operation}: code {source!r} is still in the codebook; "
                                    f"remove it from the tree (its codings follow the change)")
        for target in change.targets:
            if target not in by_id and target not in retired:
                raise error(change, f"{change.operation}: code {target!r} is not in the codebook")


def _restored(code: str, change: Change, changes: list[Change]) -> bool:
    """A code renamed away and later reintroduced by another change."""
    later = changes[changes.index(change) + 1:]
    return any(code in other.targets for other in later if other.operation != "move")


def add_codes(codebook: Codebook, codes: list[dict], *, root: Path) -> Codebook:
    """Append codes (plain dicts, ``parent`` for their place in the tree) to the end of the codebook
    file's ``codes:`` list, keeping the rest of the file as written; the file is checked again and
    restored if the result is not a valid codebook.  Shipped codebooks are not changed."""
    import yaml

    path = Path(codebook.source)
    if not path.resolve().is_relative_to(Path(root).resolve()):
        raise ConfigError(str(path), "a shipped codebook cannot take new codes: copy it into the project's "
                                     "codebooks/ folder and set [coding] codebook to the copy", code=CODE)
    original = path.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    top = next((i for i, line in enumerate(lines) if re.match(r"codes:\s*(#.*)?$", line)), None)
    if top is None:
        raise ConfigError(str(path), "cannot add codes: no block list under a top-level 'codes:' line", code=CODE)
    end, indent = top + 1, None
    for i in range(top + 1, len(lines)):
        line = lines[i]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace() and not line.startswith("-"):
            break
        if indent is None:
            indent = len(line) - len(line.lstrip())
        end = i + 1
    block = yaml.safe_dump(codes, allow_unicode=True, sort_keys=False, width=1000)
    pad = " " * (indent or 0)
    added = "".join(pad + line if line.strip() else line for line in block.splitlines(keepends=True))
    if end > 0 and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    return rewrite_checked(path, "".join(lines[:end]) + added + "".join(lines[end:]),
                           lambda: load_codebook(path, require_definitions=False))
