"""Tokenization: offsets, the domain dictionary, stop words, and the two engines agreeing.

Texts come from the demo corpus (both languages) read by the real readers; nothing is mocked.
"""
from __future__ import annotations

import importlib.util
import json
import random
from pathlib import Path

import pytest

from pipeline import tokens
from pipeline.errors import ConfigError
from pipeline.ingest import discover, read_source
from pipeline.language import detect_language
from pipeline.tokens import (TokenizerSettings, rows_from_storage, spacy_doc, terms_from_storage, tokenize_rows,
                             tokenize_texts, tokenizer_hash, tokens_for_storage)

DEMO = Path(__file__).resolve().parent.parent / "corpora" / "demo"
RJIEBA = TokenizerSettings(engine="rjieba")
JIEBA = TokenizerSettings(engine="jieba")
# without rjieba the engine rjieba falls back to jieba, and comparing the two proves nothing
needs_rjieba = pytest.mark.skipif(importlib.util.find_spec("rjieba") is None, reason="rjieba is not installed")


@pytest.fixture(scope="module")
def demo_texts() -> dict[str, str]:
    files, problems = discover([DEMO])
    assert not problems
    return {path.name: read_source(path).text for path in files}


@pytest.fixture(scope="module")
def demo_units(demo_texts) -> list[str]:
    """Every demo text whole and line by line (units are clauses or turns: a line or a few)."""
    return [*demo_texts.values(), *(line for text in demo_texts.values() for line in text.split("\n"))]


@pytest.fixture
def user_dictionary(tmp_path: Path) -> Path:
    path = tmp_path / "my_terms.txt"
    path.write_text("# my project's terms\n数智工匠\n产教评一体化 5 n\n", encoding="utf-8")
    return path


def words(settings: TokenizerSettings, text: str, language: str | None = None) -> list[str]:
    return [token.text for token in tokenize_texts(settings, [text], [language])[0]]


# --- offsets ---------------------------------------------------------------------------------------

def test_tokens_offsets_point_into_the_text(demo_texts):
    languages = {detect_language(text) for text in demo_texts.values()}
    assert languages == {"zh", "en"}
    texts = list(demo_texts.values())
    for text, unit in zip(texts, tokenize_texts(RJIEBA, texts)):
        assert unit
        for token in unit:
            assert text[token.start:token.end] == token.text
            assert token.text.strip() == token.text != ""  # whitespace is never (part of) a token
        assert all(a.end <= b.start for a, b in zip(unit, unit[1:]))
        # nothing but whitespace falls between tokens
        assert "".join(token.text for token in unit) == "".join(text.split())


def test_tokens_rows_are_the_tokens(demo_units):
    rows = tokenize_rows(RJIEBA, demo_units)
    for unit_rows, unit_tokens in zip(rows, tokenize_texts(RJIEBA, demo_units)):
        assert unit_rows == [(t.start, t.end, t.norm, t.is_stop, t.is_punct) for t in unit_tokens]


def test_tokens_stored_form_reads_back_to_the_same_rows(demo_units):
    texts = [*demo_units, "2023-2025年 moe.gov.cn\u3000产教融合", "  The  Ministry\tdecides. ", "", "\n"]
    stored = tokens_for_storage(RJIEBA, texts)
    assert [rows_from_storage(form, text) for form, text in zip(stored, texts)] == tokenize_rows(RJIEBA, texts)
    language, flags, ends = json.loads(stored[-4])
    # contiguous segments, whitespace included, cover the whole text
    assert (language, ends[-1], len(flags)) == ("zh", len(texts[-4]), len(ends))
    assert json.loads(stored[-3])[0] == "en"


def test_tokens_terms_from_storage_are_the_rows_words(demo_units):
    """The fast path of Project.unit_terms: the rows without punctuation (and stop words unless kept)."""
    texts = [*demo_units, "2023-2025年 moe.gov.cn\u3000产教融合", "  The  Ministry\tdecides. ", "", "\n"]
    for form, text in zip(tokens_for_storage(RJIEBA, texts), texts):
        rows = rows_from_storage(form, text)
        for keep in (False, True):
            kept = [row for row in rows if not row[4] and (keep or not row[3])]
            assert terms_from_storage(form, text, keep_stopwords=keep) == (
                tuple(row[2] for row in kept), tuple((row[0], row[1]) for row in kept))
    assert terms_from_storage(tokens_for_storage(RJIEBA, ["The Ministry"])[0], "The Ministry") == (
        ("ministry",), ((4, 12),))


def test_tokens_stored_form_is_segment_ends_and_flag_digits():
    texts = ["2023-2025年 产教融合", "The  Ministry decides."]
    stored = tokens_for_storage(RJIEBA, texts)
    # jieba's cut of 2023-2025 (three tokens), the space kept as a segment (flag 4), norms from the text
    assert json.loads(stored[0]) == ["zh", "232060", [4, 5, 9, 10, 11, 15]]
    assert rows_from_storage(stored[0], texts[0]) == [
        (0, 4, "2023", False, True), (4, 5, "-", True, True), (5, 9, "2025", False, True),
        (9, 10, "年", False, False), (11, 15, "产教融合", False, False)]
    assert rows_from_storage(stored[1], texts[1]) == [
        (0, 3, "the", True, False), (5, 13, "ministry", False, False), (14, 21, "decides", False, False),
        (21, 22, ".", True, True)]


def test_tokens_english_offsets_and_norms():
    text = "The Ministry of Education shall award grants of 50,000 yuan (2024)."
    unit = tokenize_texts(RJIEBA, [text])[0]
    assert [t.text for t in unit] == ["The", "Ministry", "of", "Education", "shall", "award", "grants", "of",
                                      "50,000", "yuan", "(", "2024", ")", "."]
    assert all(text[t.start:t.end] == t.text for t in unit)
    assert [t.norm for t in unit[:4]] == ["the", "ministry", "of", "education"]
    assert [t.text for t in unit if t.is_stop and not t.is_punct] == ["The", "of", "of"]
    assert [t.text for t in unit if t.is_punct] == ["50,000", "(", "2024", ")", "."]


def test_tokens_language_per_text():
    texts = ["推进PPP模式和Wi-Fi全覆盖", "Firms SHALL train Apprentices"]
    chinese, english = tokenize_texts(RJIEBA, texts)
    assert [t.text for t in chinese][:7] == ["推进", "PPP", "模式", "和", "Wi", "-", "Fi"]  # as jieba cuts it
    assert [t.norm for t in chinese][1] == "PPP"  # Chinese units keep case
    assert [t.norm for t in english] == ["firms", "shall", "train", "apprentices"]
    # a given language wins over detection
    assert [t.text for t in tokenize_texts(RJIEBA, ["产教融合"], ["en"])[0]] == ["产教融合"]
    with pytest.raises(ValueError):
        tokenize_texts(RJIEBA, ["text"], ["fr"])


def test_tokens_numbers_and_punctuation_flagged():
    unit = tokenize_texts(RJIEBA, ["给予最高不超过50万元的奖励，比例为3.5%。"])[0]
    assert {t.text for t in unit if t.is_punct} == {"50", "，", "3.5%", "。"}
    assert not any(t.is_punct for t in unit if t.text in ("万元", "奖励"))


def test_tokens_empty_and_blank_texts():
    assert tokenize_texts(RJIEBA, ["", " \n\u3000"]) == [[], []]


# --- the dictionary --------------------------------------------------------------------------------

TERMS = [
    ("产教融合", "深化产教融合，促进教育链、人才链与产业链有机衔接。"),
    ("校企合作", "职业学校应当加强校企合作。"),
    ("产业学院", "支持职业院校与龙头企业共建产业学院。"),
    ("市域产教联合体", "加快建设市域产教联合体。"),
    ("双师型教师", "“双师型”教师占专业课教师比例，双师型教师队伍建设。"),
    ("双高计划", "推进双高计划建设单位改革。"),
    ("1+X证书", "在职业院校推行1+X证书试点。"),
    ("现代学徒制", "全面推行现代学徒制和企业新型学徒制。"),
    ("专项资金", "不得挪用、截留职业教育专项资金。"),
    ("以奖代补", "市财政采取以奖代补方式给予支持。"),
    ("一票否决", "安全生产实行一票否决。"),
    ("限期整改", "对考核不合格的院校责令限期整改。"),
    ("税收优惠", "按规定落实税收优惠政策。"),
    ("贷款贴息", "对企业购置实训设备给予贷款贴息。"),
    ("通报批评", "情节严重的予以通报批评。"),
    ("纳入考核", "将产教融合工作纳入考核范围。"),
    ("实训基地", "建设一批高水平实训基地。"),
    ("订单班", "企业与学校合作开设订单班。"),
    ("混合所有制", "探索混合所有制改革，推进混合所有制办学。"),
    ("产教融合型企业", "认定一批产教融合型企业。"),
    ("职业教育法", "贯彻落实新修订的职业教育法。"),
    ("国家发展改革委", "国家发展改革委会同教育部印发通知。"),
    ("人力资源社会保障部", "人力资源社会保障部 财政部关于开展试点的通知"),
    ("教育厅", "浙江省教育厅关于公布名单的通知"),
    ("人民政府办公厅", "宁波市人民政府办公厅关于深化产教融合的实施意见"),
]


@pytest.mark.parametrize("settings", [RJIEBA, JIEBA], ids=["rjieba", "jieba"])
@pytest.mark.parametrize("term, sentence", TERMS, ids=[term for term, _ in TERMS])
def test_tokens_dictionary_terms_stay_whole(settings, term, sentence):
    assert term in words(settings, sentence)


@pytest.mark.parametrize("sentence, expected", [
    ("宁阳县人民政府办公室关于印发实施方案的通知", ["宁阳县", "人民政府办公室"]),
    ("慈溪市教育局", ["慈溪市", "教育局"]),
    ("北京市海淀区教育委员会", ["北京市", "海淀区", "教育委员会"]),
    ("宁阳和慈溪的职业学校", ["宁阳", "慈溪"]),  # short forms
    ("长兴县人民政府", ["长兴县"]),
    ("省、市和县级人民政府", ["和", "县级"]),  # two-character county names (和县) are not words
])
def test_tokens_place_names_stay_whole(sentence, expected):
    found = words(RJIEBA, sentence)
    assert all(name in found for name in expected), found


def test_tokens_user_dictionary_is_honoured_and_changes_the_hash(user_dictionary):
    sentence = "培养数智工匠，推进产教评一体化。"
    plain = words(RJIEBA, sentence)
    assert "数智工匠" not in plain and "产教评一体化" not in plain
    for engine in ("rjieba", "jieba"):
        settings = TokenizerSettings(engine=engine, dictionaries=(str(user_dictionary),))
        assert {"数智工匠", "产教评一体化"} <= set(words(settings, sentence))
        assert tokenizer_hash(settings) != tokenizer_hash(TokenizerSettings(engine=engine))
    # the hash follows the file's content, and so does a tokenizer built in the same process
    settings = TokenizerSettings(dictionaries=(str(user_dictionary),))
    before = tokenizer_hash(settings)
    user_dictionary.write_text("数智工匠\n", encoding="utf-8")
    assert tokenizer_hash(settings) != before
    assert "产教评一体化" not in words(settings, sentence)


@pytest.mark.parametrize("content, problem", [
    (None, "file not found"),
    ("产教融合 12 n extra\n".encode(), "expected 'word [freq] [tag]'"),
    ("产教融合 0\n".encode(), "frequency 0"),
    ("产教融合\n".encode("gbk"), "not UTF-8"),
])
def test_tokens_bad_user_dictionary_is_a_config_error(tmp_path, content, problem):
    path = tmp_path / "terms.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as raised:
        tokenize_texts(TokenizerSettings(dictionaries=(str(path),)), ["产教融合"])
    assert raised.value.key == "tokenize.dictionaries"
    assert problem in str(raised.value) and str(path) in str(raised.value)


def test_tokens_shipped_lists_are_versioned_and_disjoint():
    terms_file, stop_file = tokens.POLICY_TERMS.read_text("utf-8"), tokens.POLICY_STOPWORDS.read_text("utf-8")
    assert terms_file.startswith("# policoder policy terms v")
    assert stop_file.startswith("# policoder policy stop words v")
    terms = [entry.word for entry in tokens._parse_dictionary("terms", terms_file)]
    stop_words = [word for _, word in tokens._lines(stop_file)]
    assert len(terms) >= 200 and len(set(terms)) == len(terms)
    assert len(stop_words) >= 150 and len(set(stop_words)) == len(stop_words)
    assert not set(terms) & set(stop_words)  # cue words are evidence, never boilerplate


# --- stop words ------------------------------------------------------------------------------------

def test_tokens_stop_words_are_flagged_not_removed():
    unit = tokenize_texts(RJIEBA, ["各地要进一步贯彻落实，切实做好有关工作，不得挪用专项资金的"])[0]
    flagged = {t.text for t in unit if t.is_stop}
    assert {"各地", "进一步", "贯彻落实", "切实做好", "有关", "工作", "的"} <= flagged  # boilerplate and spaCy's
    assert {"不得", "挪用", "专项资金"}.isdisjoint(flagged)  # cue words: spaCy's list has 不得
    assert "贯彻落实" in [t.text for t in unit]


def test_tokens_user_stop_words(tmp_path):
    path = tmp_path / "stop.txt"
    path.write_text("# mine\n产业学院\nMinistry\n", encoding="utf-8")
    settings = TokenizerSettings(stopwords=(str(path),))
    chinese, english = tokenize_texts(settings, ["共建产业学院", "The Ministry decides"])
    assert [t.text for t in chinese if t.is_stop] == ["产业学院"]  # a user's list wins over the dictionary
    assert [t.text for t in english if t.is_stop] == ["The", "Ministry"]
    assert tokenizer_hash(settings) != tokenizer_hash(RJIEBA)


def test_tokens_keep_stopwords_does_not_change_the_hash_or_the_tokens():
    keep = TokenizerSettings(keep_stopwords=True)
    assert tokenizer_hash(keep) == tokenizer_hash(RJIEBA)
    text = "各地要进一步推进产教融合。"
    assert tokenize_texts(keep, [text]) == tokenize_texts(RJIEBA, [text])


@needs_rjieba
def test_tokens_hash_names_the_engine():
    assert tokenizer_hash(RJIEBA) != tokenizer_hash(JIEBA)
    assert len(tokenizer_hash(RJIEBA)) == 64


# --- the two engines agree -------------------------------------------------------------------------

@needs_rjieba
def test_tokens_engines_load_the_same_dictionary(user_dictionary):
    entries = tokens._Sources.read(TokenizerSettings(dictionaries=(str(user_dictionary),))).entries()
    _, rust = tokens._load_rjieba(entries)
    _, python = tokens._load_jieba(entries)
    assert len(rust) > 4000
    assert rust == python  # every word, with the frequency each engine gave it


@needs_rjieba
def test_tokens_rjieba_matches_jieba_on_the_demo_corpus(demo_units, user_dictionary):
    rust, python = (TokenizerSettings(engine=engine, dictionaries=(str(user_dictionary),))
                    for engine in ("rjieba", "jieba"))
    assert tokenize_rows(rust, demo_units) == tokenize_rows(python, demo_units)


@needs_rjieba
def test_tokens_rjieba_matches_jieba_on_random_text():
    """Adversarial mixes around the known differences: ASCII runs joined by - _ . % + # &, CJK
    extension characters, full-width forms, whitespace of every kind."""
    pools = ["产教融合推进校企合作职业教育的发展和建设一二三年月日号不得给予奖励", "abcXYZ0123456789",
             " \t\n\r\u3000\xa0\u2003\x1c\x85", "，。、；：？！“”（）《》—…·/\\@", "--__..%%++##&&",
             "①Ⅱ％１ＡéüカＡ😀", "㐀䶵鿫豈𠀀𪚥"]
    rng = random.Random(20261123)
    texts = ["".join(rng.choice(rng.choice(pools)) for _ in range(rng.randint(1, 30))) for _ in range(3000)]
    assert tokenize_rows(RJIEBA, texts, ["zh"] * len(texts)) == tokenize_rows(JIEBA, texts, ["zh"] * len(texts))


@needs_rjieba
@pytest.mark.parametrize("text, expected", [
    ("2023-2025年", ["2023", "-", "2025", "年"]),
    ("邮箱zhijiao_office@moe.edu.cn", ["邮箱", "zhijiao", "_", "office", "@", "moe", ".", "edu", ".", "cn"]),
    ("GB/T 9704-2012", ["GB", "/", "T", "9704", "-", "2012"]),
    ("PM2.5浓度", ["PM2.5", "浓度"]),
])
def test_tokens_rjieba_cuts_ascii_runs_like_jieba(text, expected):
    assert words(RJIEBA, text, "zh") == words(JIEBA, text, "zh") == expected


# --- spaCy -----------------------------------------------------------------------------------------

def test_tokens_spacy_doc_has_the_same_boundaries(demo_texts):
    texts = list(demo_texts.values())
    for text, unit in zip(texts, tokenize_texts(RJIEBA, texts)):
        doc = spacy_doc(RJIEBA, text)
        assert doc.text == text
        assert [(t.idx, t.idx + len(t)) for t in doc if not t.is_space] == [(t.start, t.end) for t in unit]
    assert spacy_doc(RJIEBA, texts[0]).lang_ in ("zh", "en")


def test_tokens_spacy_pipeline_serves_phrase_matching():
    from spacy.matcher import PhraseMatcher

    nlp = tokens.spacy_pipeline(RJIEBA, "zh")
    matcher = PhraseMatcher(nlp.vocab)
    matcher.add("incentive", [nlp.make_doc(cue) for cue in ("以奖代补", "税收优惠")])
    doc = spacy_doc(RJIEBA, "对产教融合型企业落实税收优惠，并以奖代补。", "zh")
    assert sorted(doc[start:end].text for _, start, end in matcher(doc)) == ["以奖代补", "税收优惠"]
