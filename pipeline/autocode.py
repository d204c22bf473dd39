"""Auto-coding: the codebook's rules applied to units, as a machine coder.

A code fires on a unit when one of its keywords occurs in the unit's text (Latin keywords match
whole words, ignoring case; Chinese ones anywhere, as Chinese has no spaces), one of its regular
expressions matches, or one of its spaCy ``Matcher`` token patterns matches the unit's tokens.  A
code with ``inside: X`` fires only where X fired too.  Each machine coding keeps the cues that
fired, so a coder can see why.  The machine coder's codings live apart from human ones and are
remade whenever the rules (``Codebook.rule_version``) or the units change.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .codebook import Code, Codebook
from .language import detect_language
from .tokens import TokenizerSettings


@dataclass(frozen=True)
class AutoCoding:
    unit_id: str
    code: str
    cues: tuple[str, ...]


class AutoCoder:
    def __init__(self, codebook: Codebook, settings: TokenizerSettings | None = None):
        self.codebook = codebook
        self.coded = [code for code in codebook.codes if code.auto]
        self._regexes = {code.id: [self._keyword(word) for word in code.auto.keywords]
                         + [re.compile(pattern) for pattern in code.auto.regex] for code in self.coded}
        self._order = _inside_order(self.coded)
        self._matchers = {}
        if any(code.auto.patterns for code in self.coded):
            self._matchers = self._build_matchers(settings or TokenizerSettings())

    @staticmethod
    def _keyword(word: str) -> re.Pattern:
        if re.fullmatch(r"[\x00-\x7f]+", word):  # a Latin word or phrase: whole words, any case
            return re.compile(rf"(?<![\w]){re.escape(word)}(?![\w])", re.IGNORECASE)
        return re.compile(re.escape(word))

    def _build_matchers(self, settings: TokenizerSettings) -> dict:
        from spacy.matcher import Matcher

        from .tokens import spacy_pipeline

        matchers = {}
        for language in ("zh", "en"):
            nlp = spacy_pipeline(settings, language)
            matcher = Matcher(nlp.vocab)
            for code in self.coded:
                if code.auto.patterns:
                    matcher.add(code.id, [json.loads(pattern) for pattern in code.auto.patterns])
            matchers[language] = (nlp, matcher)
        return matchers

    def code_unit(self, text: str) -> dict[str, tuple[str, ...]]:
        """code id → the cues that fired in ``text``."""
        fired: dict[str, list[str]] = {}
        for code in self.coded:
            cues = [match.group(0) for pattern in self._regexes[code.id] for match in pattern.finditer(text)]
            if cues:
                fired[code.id] = cues
        if self._matchers:
            nlp, matcher = self._matchers[detect_language(text)]
            doc = nlp.make_doc(text)
            for match_id, start, end in matcher(doc):
                fired.setdefault(nlp.vocab.strings[match_id], []).append(doc[start:end].text)
        for code in self._order:  # a code scoped inside another fires only with it
            if code.auto.inside and code.id in fired and code.auto.inside not in fired:
                del fired[code.id]
        return {code: tuple(dict.fromkeys(cues)) for code, cues in fired.items()}

    def code_units(self, units: list[dict]) -> list[AutoCoding]:
        return [AutoCoding(unit["unit_id"], code, cues)
                for unit in units for code, cues in self.code_unit(unit["text"]).items()]


def _inside_order(codes: list[Code]) -> list[Code]:
    """Codes with ``inside`` after the code they depend on, so chains (C inside B inside A) settle."""
    by_id = {code.id: code for code in codes}

    def depth(code: Code) -> int:
        seen, level = set(), 0
        while code.auto.inside and code.auto.inside in by_id and code.id not in seen:
            seen.add(code.id)
            code, level = by_id[code.auto.inside], level + 1
        return level

    return sorted(codes, key=depth)
