"""Themes files: each theme of a mixed-methods study defined once and mapped to its evidence in every source.

A theme states a proposition ("enterprises find the incentives worth having") and says where each data
set speaks to it: interview codes (their stances say for or against), policy clauses (instruments and/or
keywords, with the direction the policy text takes), survey items or scales (their own direction is in
the survey schema) and indicators.  A source a theme does not name is "no strand" for that theme, which
is not a silence: silence is an absence of evidence where evidence was looked for.

    version: 1
    questions:
      RQ1: 激励政策是否提高了企业参与的积极性？
    themes:
      - id: incentives
        name: 激励政策的实际作用
        question: RQ1
        interviews: {codes: [incentives]}            # a code covers its descendants
        policy: {instruments: [incentive], keywords: [补贴, 抵免], direction: positive}   # also topics: [2]
        survey: {refs: [incentive_perception]}      # items or scales of any loaded survey
        indicators: {refs: [coordination_index]}
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from .yamlfile import Node, items, known, read_yaml, strings, text, unique

SOURCES = ("policy", "interviews", "survey", "indicators")
DIRECTIONS = {"positive": 1, "negative": -1}


@dataclass(frozen=True)
class PolicyQuery:
    instruments: tuple[str, ...] = ()   # a clause must carry one of these (any when empty)
    keywords: tuple[str, ...] = ()      # and contain one of these (any when empty)
    topics: tuple[int, ...] = ()        # and belong to one of these topics of the latest topic model
    direction: int | None = None        # +1: the texts state the proposition, −1: they deny it


@dataclass(frozen=True)
class Theme:
    id: str
    name: str
    question: str = ""
    description: str = ""
    interview_codes: tuple[str, ...] = ()
    policy: PolicyQuery | None = None
    survey_refs: tuple[str, ...] = ()
    indicator_refs: tuple[str, ...] = ()

    def mapped(self, source: str) -> bool:
        return bool({"policy": self.policy, "interviews": self.interview_codes,
                     "survey": self.survey_refs, "indicators": self.indicator_refs}[source])


@dataclass(frozen=True)
class Themes:
    path: Path
    digest: str
    questions: dict[str, str] = field(default_factory=dict)
    themes: tuple[Theme, ...] = ()

    def by_id(self, theme_id: str) -> Theme:
        return next(theme for theme in self.themes if theme.id == theme_id)


def load_themes(path: str | Path, *, codes: set[str] | None = None, survey_refs: set[str] | None = None,
                indicator_refs: set[str] | None = None, instruments: set[str] | None = None) -> Themes:
    """Read and check a themes file; each mistake is one ``ConfigError`` naming the file and line.

    The optional sets are what the project knows (codebook codes, survey items and scales, indicators,
    the scheme's instrument labels); a reference to anything else is an error, not a silent silence.
    """
    path = Path(path)
    root = read_yaml(path, code="themes-invalid")
    known(root, {"version", "questions", "themes"})
    questions = _questions(root.get("questions"))
    nodes = items(root, "themes")
    unique(nodes, "theme")
    themes = tuple(_theme(node, questions, codes, survey_refs, indicator_refs, instruments) for node in nodes)
    return Themes(path=path, digest=hashlib.sha256(path.read_bytes()).hexdigest()[:16], questions=questions,
                  themes=themes)


def _questions(node: Node | None) -> dict[str, str]:
    if node is None:
        return {}
    if not isinstance(node.value, dict):
        raise node.error("questions must map a question id to its wording")
    return {str(key): text(node, key) for key in node.children}


def _theme(node: Node, questions: dict[str, str], codes, survey_refs, indicator_refs, instruments) -> Theme:
    known(node, {"id", "name", "question", "description", *SOURCES})
    question = text(node, "question", "")
    if question and questions and question not in questions:
        raise node["question"].error(f"unknown question {question!r}; the file defines {', '.join(questions)}")
    theme = Theme(id=text(node, "id"), name=text(node, "name"), question=question,
                  description=text(node, "description", ""),
                  interview_codes=_refs(node.get("interviews"), "codes", codes, "code"),
                  policy=_policy(node.get("policy"), instruments),
                  survey_refs=_refs(node.get("survey"), "refs", survey_refs, "survey item or scale"),
                  indicator_refs=_refs(node.get("indicators"), "refs", indicator_refs, "indicator"))
    if not any(theme.mapped(source) for source in SOURCES):
        raise node.error(f"theme {theme.id!r} names no evidence in any source ({', '.join(SOURCES)})")
    return theme


def _refs(node: Node | None, key: str, valid: set[str] | None, what: str) -> tuple[str, ...]:
    if node is None:
        return ()
    known(node, {key})
    values = strings(node, key)
    for value in values:
        if valid is not None and value not in valid:
            raise node[key].error(f"unknown {what} {value!r}")
    return tuple(values)


def _policy(node: Node | None, instruments: set[str] | None) -> PolicyQuery | None:
    if node is None:
        return None
    known(node, {"instruments", "keywords", "topics", "direction"})
    topics = node.get("topics")
    if topics is not None and (not isinstance(topics.value, list) or not all(
            isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in topics.value)):
        raise topics.error("topics must be a list of topic numbers (0, 1, …) of the project's topic model")
    labels = strings(node, "instruments")
    for label in labels:
        if instruments is not None and label not in instruments:
            raise node["instruments"].error(f"unknown instrument {label!r}; the scheme has "
                                            f"{', '.join(sorted(instruments))}")
    direction = node.get("direction")
    if direction is not None and direction.value not in DIRECTIONS:
        raise direction.error(f"direction must be one of {', '.join(DIRECTIONS)}")
    query = PolicyQuery(instruments=tuple(labels), keywords=tuple(strings(node, "keywords")),
                        topics=tuple(topics.value) if topics is not None else (),
                        direction=DIRECTIONS[direction.value] if direction is not None else None)
    if not query.instruments and not query.keywords and not query.topics:
        raise node.error("policy evidence needs instruments, keywords or topics")
    return query
