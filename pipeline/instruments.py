"""Policy instruments of coding units: the rule classifier, and ``classify`` for texts.

The rules need no training data.  A unit's text is tokenized as everywhere else in policoder
(``pipeline.tokens``: jieba with the domain dictionary, or spaCy's English tokenizer), and the
scheme's cues are found with spaCy's ``PhraseMatcher`` (words and phrases) and ``Matcher`` (``A…B``:
A, then B within ``gap`` tokens with no punctuation between).  In groups marked ``inside_words``
a Chinese cue is found in the text itself, inside longer words too (财政奖补资金 holds 奖补), because
jieba keeps many compounds whole; elsewhere cues must fall on word boundaries (须 is not 无须).
Then the context rules:

- the longer cue wins where two overlap: 给予…处分 (a sanction) swallows 给予; 挪用…专项资金 is a
  prohibition, and the money word inside it no longer counts as an incentive; a cue of weight 0 counts
  nothing, so a word holding a cue (市场监督管理局 holds 监督) is no instrument;
- a negation word shortly before a benefit turns it into its denial (不得享受补贴 → constraint), a
  wrong anywhere in the sentence reaches the money it names (资金应当专款专用，不得截留), and
  money owed to interns is a duty to pay, not an inducement (给予实习学生补贴 → constraint);
- money that only names a thing (a form, an item a check looks at, the subsidy an office reviews) is
  no offer;
- a group may yield to others: 鼓励/支持 are hortatory only when no money or benefit is offered;
- a bare list item is read with its lead-in sentence (``context``): "企业应当做到：（一）…", and
  what the lead-in does to the items' money counts (专项资金不得用于以下支出：（一）津贴补贴…);
- a section heading standing alone (二、保障措施, no sentence under it) is ``none``.

Scores add the weights of the cues per label; every label reaching the scheme's threshold is
present, and the primary label is the present label whose strongest group has the best priority
(ties: higher score; GUIDE.md's order).  Each prediction keeps the cues that fired, so a scholar can see why.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from .schemes import NONE, Cue, Scheme, load_scheme
from .tokens import TokenizerSettings, spacy_pipeline
from .language import detect_language

RULES_SOURCE = "rules"
# what may stand before a "^cue" (one at the start of the unit): spaces and the unit's own number
_NUMBERING = r"\s*(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]|\d+[.、．])?\s*"
# punctuation an "A…B" gap does not cross
_GAP_STOPS = list("，。；：！？,.;:!?（）()【】")
_SENTENCE_PART = re.compile("[，。；：！？,;:!?]")
_SENTENCE_END = re.compile("[。；！？;!?]")
# a section heading standing alone (二、联合体成员构成与治理结构) names a topic and does nothing
_BARE_HEADING = re.compile(r"[一二三四五六七八九十]+、[^，。；：！？,.;:!?（）()、\n]{2,20}")


@dataclass(frozen=True)
class CueHit:
    """One cue found in a unit: where (character offsets into the text it was found in) and what it counts for."""

    cue: str  # the cue as the scheme writes it
    matched: str  # the text it matched
    group: str
    label: str
    weight: float
    start: int
    end: int
    in_context: bool = False  # found in the lead-in sentence, not in the unit itself
    turned_by: str | None = None


@dataclass(frozen=True)
class Prediction:
    labels: frozenset[str]
    primary: str
    scores: dict[str, float]
    hits: tuple[CueHit, ...] = ()
    source: str = RULES_SOURCE

    @property
    def cues(self) -> list[str]:
        """The matched cue strings, in text order (lead-in cues marked with a leading ↑)."""
        return [("↑" if hit.in_context else "") + hit.matched for hit in self.hits]


class RuleClassifier:
    """The scheme's cues and rules over policoder's tokens."""

    def __init__(self, scheme: Scheme, settings: TokenizerSettings | None = None):
        from spacy.matcher import Matcher, PhraseMatcher

        self.scheme = scheme
        self.settings = settings or TokenizerSettings()
        self._priority = {group.id: group.priority for group in scheme.groups}
        self._label_order = {label: index for index, label in enumerate(scheme.label_ids)}
        self._cues: list[Cue] = scheme.cues
        # Chinese cues of groups with inside_words are found in the text itself, wherever they occur:
        # 财政奖补资金 holds 奖补, and 1日起施行 is cut 日起/施行, past any token boundary
        inside = {group.id for group in scheme.groups if group.inside_words}
        stops = re.escape("".join(_GAP_STOPS))
        self._in_text = {
            index: re.compile(("^" + _NUMBERING if cue.text.startswith("^") else "")
                              + f"[^{stops}]{{0,{3 * scheme.gap}}}?".join(map(re.escape, cue.parts)).lstrip("\\^"))
            for index, cue in enumerate(self._cues) if cue.language == "zh" and cue.group in inside
        }
        self._matchers = {}
        for language in ("zh", "en"):
            nlp = spacy_pipeline(self.settings, language)
            attr = "LOWER" if language == "en" else "ORTH"
            phrases, patterns = PhraseMatcher(nlp.vocab, attr=attr), Matcher(nlp.vocab)
            for index, cue in enumerate(self._cues):
                if cue.language != language or index in self._in_text:
                    continue
                parts = cue.parts
                if len(parts) == 1:
                    phrases.add(str(index), [nlp.make_doc(parts[0])])
                else:
                    pattern = []
                    for number, part in enumerate(parts):
                        if number:  # a gap stays inside one sentence part; 、 joins list items within it
                            pattern.append({"ORTH": {"NOT_IN": _GAP_STOPS}, "IS_SPACE": False,
                                            "OP": f"{{0,{scheme.gap}}}"})
                        pattern += [{attr: token.lower_ if language == "en" else token.text}
                                    for token in nlp.make_doc(part) if not token.is_space]
                    patterns.add(str(index), [pattern])
            self._matchers[language] = (nlp, phrases, patterns)

    def predict(self, text: str, *, context: str | None = None, language: str | None = None) -> Prediction:
        if not context and _BARE_HEADING.fullmatch(text.strip()):
            return Prediction(labels=frozenset({NONE}), primary=NONE, scores={})
        language = language or detect_language(text)
        hits = self._hits(text, language, lead_in=context)
        if context:  # the lead-in's own cues, as its end makes them mean for the items (应当提交下列材料：)
            hits += [_in_context(hit) for hit in self._hits(context, language, lead_in=context)]
        return self._decide(hits)

    # --- finding cues ---------------------------------------------------------------------

    def _hits(self, text: str, language: str, lead_in: str | None = None) -> list[CueHit]:
        nlp, phrases, patterns = self._matchers[language]
        doc = nlp.make_doc(text)
        found: dict[tuple[int, int], tuple[int, int]] = {}  # (cue, token start) → shortest token end
        matches = [*phrases(doc), *(patterns(doc) if len(patterns) else [])]
        for match_id, start, end in matches:
            key = (int(nlp.vocab.strings[match_id]), start)
            if key not in found or end < found[key][1]:
                found[key] = (start, end)
        hits = [self._hit(index, doc[start:end].start_char, doc[start:end].end_char, text)
                for (index, _), (start, end) in found.items()]
        if language == "zh":
            for index, pattern in self._in_text.items():
                hits += [self._hit(index, match.start(), match.end(), text) for match in pattern.finditer(text)]
        hits = _without_overlaps(hits)
        return [self._turn(hit, text, lead_in) for hit in hits]

    def _hit(self, index: int, start: int, end: int, text: str) -> CueHit:
        cue = self._cues[index]
        return CueHit(cue=cue.text, matched=text[start:end], group=cue.group, label=cue.label, weight=cue.weight,
                      start=start, end=end)

    def _turn(self, hit: CueHit, text: str, lead_in: str | None) -> CueHit:
        for rule in self.scheme.context_rules:
            if hit.group not in rule.applies_to or (rule.lead_in and not lead_in):
                continue
            # only the same sentence part counts (接收实习学生的，给予补贴 still rewards the firm), or the
            # sentence, for a rule that says so
            ends = _SENTENCE_END if rule.sentence else _SENTENCE_PART
            if rule.lead_in:  # the end of the sentence that introduces the list: 专项资金不得用于以下支出：
                near = lead_in.rstrip()[-rule.window:]
            elif rule.after:
                near = ends.split(text[hit.end:hit.end + rule.window])[0]
            else:
                near = ends.split(text[max(0, hit.start - rule.window):hit.start])[-1]
            where = near + (hit.matched if rule.inside else "")
            word = next((word for word in rule.words if word in where), None)
            if word is not None:
                group = self.scheme.group(rule.becomes)
                return CueHit(cue=hit.cue, matched=hit.matched, group=group.id, label=group.label,
                              weight=group.weight, start=hit.start, end=hit.end, in_context=hit.in_context,
                              turned_by=word)
        return hit

    # --- deciding -------------------------------------------------------------------------

    def _decide(self, hits: list[CueHit]) -> Prediction:
        groups = {hit.group for hit in hits}
        suppressed = {label for group in groups for label in self.scheme.group(group).suppresses}
        group_weight: dict[str, float] = defaultdict(float)
        for hit in hits:
            group_weight[hit.group] += hit.weight
        # a group yields only to groups that fire in earnest: 鼓励…资助 (a weak money word) stays a call
        strong = {group for group, weight in group_weight.items() if weight >= self.scheme.threshold}
        hits = [hit for hit in hits if hit.label not in suppressed
                and not strong.intersection(self.scheme.group(hit.group).yields_to)]
        hits.sort(key=lambda hit: (hit.in_context, hit.start, hit.end))
        # a cue counts once however often it recurs: 资金…资金…资金 is still one weak money word
        weights: dict[tuple[str, str], float] = {}
        for hit in hits:
            if not hit.weight:  # a lookalike (市场监督管理局) shows why a cue did not count, and counts nothing
                continue
            weights[hit.label, hit.cue] = max(weights.get((hit.label, hit.cue), 0.0), hit.weight)
        scores: dict[str, float] = defaultdict(float)
        for (label, _), weight in weights.items():
            scores[label] += weight
        best_priority: dict[str, int] = {}
        for hit in hits:
            best_priority[hit.label] = min(best_priority.get(hit.label, 99), self._priority[hit.group])

        def rank(labels):
            return sorted(labels, key=lambda label: (best_priority[label], -scores[label], self._label_order[label]))

        present = [label for label in scores if scores[label] >= self.scheme.threshold]
        if present:
            ranked = rank(present)
            primary = ranked[0]
        else:  # only weak cues: the strongest of them, as a coder would read 支持企业参与 as hortatory;
            # cues of weight below 1 (资金, 经费) never decide a unit on their own
            weak = [label for label in scores if any(h.label == label and h.weight >= 1 for h in hits)]
            primary = NONE if NONE in scores or not weak else rank(weak)[0]
        labels = frozenset(label for label in present if label != NONE) | {primary}
        return Prediction(labels=labels, primary=primary, scores={k: scores[k] for k in sorted(scores)},
                          hits=tuple(hits))


def _in_context(hit: CueHit) -> CueHit:
    return CueHit(cue=hit.cue, matched=hit.matched, group=hit.group, label=hit.label, weight=hit.weight,
                  start=hit.start, end=hit.end, in_context=True, turned_by=hit.turned_by)


def _without_overlaps(hits: list[CueHit]) -> list[CueHit]:
    """Where hits overlap, the longer one wins (then the heavier): 给予…处分 over 给予."""
    kept: list[CueHit] = []
    taken: set[int] = set()
    for hit in sorted(hits, key=lambda h: (-(h.end - h.start), -h.weight, h.start)):
        span = set(range(hit.start, hit.end))
        if not span & taken:
            kept.append(hit)
            taken |= span
    return kept


# --- the API ------------------------------------------------------------------------------------

_classifiers: dict[tuple, RuleClassifier] = {}


def rule_classifier(scheme: Scheme | str = "default", settings: TokenizerSettings | None = None) -> RuleClassifier:
    """A rule classifier for the scheme, built once per process and configuration."""
    scheme = load_scheme(scheme) if isinstance(scheme, str) else scheme
    settings = settings or TokenizerSettings()
    key = (scheme.digest, settings)
    if key not in _classifiers:
        _classifiers[key] = RuleClassifier(scheme, settings)
    return _classifiers[key]


def classify(texts: list[str], scheme: Scheme | str = "default", *, contexts: list[str | None] | None = None,
             settings: TokenizerSettings | None = None) -> list[Prediction]:
    """The instruments of each text (``labels``, ``primary``, ``cues``, ``scores``), by the scheme's rules."""
    classifier = rule_classifier(scheme, settings)
    contexts = contexts or [None] * len(texts)
    return [classifier.predict(text, context=context) for text, context in zip(texts, contexts)]
