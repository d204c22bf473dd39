"""Topic models of a corpus: gensim LDA with a principled choice of K, described the way papers report them.

Input is plain data: texts as lists of terms (``stats.UnitTerms`` give them, stop words and punctuation
already dropped) with their groups (level, year, issuer, kind).  The stages:

- ``build_corpus``: texts → gensim ``Dictionary`` and bag-of-words, rare and ubiquitous terms filtered
  (``filter_extremes``), optionally with bigram phrases (``Phrases``);
- ``fit``: one LDA model with a fixed seed (same corpus and seed → the same topics);
- ``describe``: top terms by probability and by FREX (Roberts et al.'s harmonic mean of a term's
  frequency rank and exclusivity rank within the topic, weight 0.5 by default);
- ``sweep``: fit each K in its own process and score it with c_v, c_npmi and u_mass coherence (Röder
  et al. 2015; boolean sliding window of 110 tokens for c_v, gensim's 10 for c_npmi; top 10 terms)
  and the per-word perplexity bound;
- ``fit_topics(…, method="nmf")``: scikit-learn NMF on TF-IDF, the same outputs, to check robustness;
- ``fold_in``: shares of new or changed texts under a model already fitted (the model, its topics and
  so the labels a scholar gave them stay as they are); ``save``/``load`` keep a model for that.

What the numbers are, and how they were made, travels with them in the returned rows.
"""
from __future__ import annotations

import gc
import hashlib
import math
import zlib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .charts import as_written

TOP_N = 10  # terms per topic that coherence and the tables use
CV_WINDOW = 110  # gensim's default boolean sliding window for c_v


@dataclass(frozen=True)
class CorpusSettings:
    no_below: int = 2  # a term must occur in at least this many texts
    no_above: float = 0.5  # and in at most this share of them
    keep_n: int = 20_000
    phrases: bool = False  # join frequent bigrams (gensim Phrases) before counting


@dataclass(frozen=True)
class Corpus:
    texts: list[list[str]]  # after phrase detection: what coherence reads
    dictionary: object  # gensim Dictionary
    bow: list[list[tuple[int, int]]]
    phrases: object = None  # the gensim Phraser the texts went through, for texts folded in later


@dataclass(frozen=True)
class ModelSettings:
    k: int
    seed: int
    passes: int = 10
    iterations: int = 100
    chunksize: int = 250  # 2.6x faster than gensim's 2000 on 2,000 documents, same topics quality


def build_corpus(texts: Sequence[Sequence[str]], settings: CorpusSettings = CorpusSettings()) -> Corpus:
    from gensim.corpora import Dictionary
    from gensim.models.phrases import Phraser, Phrases

    texts = [list(text) for text in texts]
    bigrams = Phraser(Phrases(texts, min_count=5, threshold=10.0, delimiter="_")) if settings.phrases else None
    if bigrams:
        texts = [bigrams[text] for text in texts]
    dictionary = Dictionary(texts)
    dictionary.filter_extremes(no_below=settings.no_below, no_above=settings.no_above, keep_n=settings.keep_n)
    dictionary.compactify()
    return Corpus(texts=texts, dictionary=dictionary, bow=[dictionary.doc2bow(text) for text in texts],
                  phrases=bigrams)


def fit(corpus: Corpus, settings: ModelSettings):
    from gensim.models import LdaModel

    if len(corpus.dictionary) < settings.k:
        raise ValueError(f"{len(corpus.dictionary)} terms left after filtering: too few for {settings.k} topics")
    return LdaModel(corpus=corpus.bow, id2word=corpus.dictionary, num_topics=settings.k, random_state=settings.seed,
                    passes=settings.passes, iterations=settings.iterations, chunksize=settings.chunksize,
                    alpha="auto", eta="auto", eval_every=None)


@dataclass(frozen=True)
class Fitted:
    """A fitted topic model as plain arrays, whatever fitted it."""

    method: str  # lda | nmf
    beta: np.ndarray  # topics × terms, rows sum to 1
    terms: list[str]  # column names of beta
    shares: np.ndarray  # texts × topics, rows sum to 1
    seed: int = 0
    model: object = field(default=None, repr=False)  # LdaModel, or (TfidfTransformer, NMF): to fold texts in


def fit_topics(corpus: Corpus, settings: ModelSettings, method: str = "lda") -> Fitted:
    """LDA (gensim), or NMF on TF-IDF (scikit-learn) as a comparison model with the same outputs."""
    terms = [corpus.dictionary[i] for i in range(len(corpus.dictionary))]
    if method == "lda":
        model = fit(corpus, settings)
        return Fitted("lda", model.get_topics(), terms, document_topics(model, corpus.bow, settings.seed),
                      settings.seed, model)
    if method != "nmf":
        raise ValueError(f"topic method {method!r} is not lda or nmf")
    from gensim.matutils import corpus2csc
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfTransformer

    counts = corpus2csc(corpus.bow, num_terms=len(terms)).T.tocsr()
    tfidf = TfidfTransformer(sublinear_tf=True)
    nmf = NMF(n_components=settings.k, init="nndsvda", random_state=settings.seed, max_iter=500)
    shares = nmf.fit_transform(tfidf.fit_transform(counts))
    return Fitted("nmf", _rows_sum_to_one(nmf.components_), terms, _rows_sum_to_one(shares), settings.seed,
                  (tfidf, nmf))


def fold_in(fitted: Fitted, corpus: Corpus, texts: Sequence[Sequence[str]]) -> np.ndarray:
    """Texts × topics shares of texts the model was not fitted on, the model unchanged: the texts go
    through the fit's phrases and dictionary (terms the fit never kept are ignored), then LDA's
    inference or NMF's transform of the fit's TF-IDF weighting."""
    if corpus.phrases:
        texts = [corpus.phrases[list(text)] for text in texts]
    bow = [corpus.dictionary.doc2bow(list(text)) for text in texts]
    if fitted.method == "lda":
        return document_topics(fitted.model, bow, fitted.seed)
    from gensim.matutils import corpus2csc

    tfidf, nmf = fitted.model
    counts = corpus2csc(bow, num_terms=len(fitted.terms)).T.tocsr()
    return _rows_sum_to_one(nmf.transform(tfidf.transform(counts)))


@dataclass(frozen=True)
class Saved:
    """A fitted model kept beside its outputs so that a later run can fold changed texts into it."""

    fitted: Fitted
    corpus: Corpus  # its dictionary and phrases; texts and bag-of-words are not kept
    texts: dict[str, str]  # text key → fingerprint of the terms it was fitted on
    info: dict  # what the fit was made from, and what it found (model id, sweep, stability)


def save(path: Path, saved: Saved) -> None:
    import joblib

    slim = Corpus(texts=[], dictionary=saved.corpus.dictionary, bow=[], phrases=saved.corpus.phrases)
    joblib.dump(Saved(saved.fitted, slim, saved.texts, saved.info), path, compress=3)


def load(path: Path) -> Saved | None:
    """The model kept at ``path``; None when there is none or it cannot be read (another library
    version, a damaged file): the caller then fits afresh."""
    import joblib

    try:
        saved = joblib.load(path)
    except Exception:  # noqa: BLE001 — any unreadable file means "no model kept"
        return None
    return saved if isinstance(saved, Saved) else None


def describe(fitted: Fitted, top_n: int = TOP_N, frex_weight: float = 0.5, by: str = "weight") -> list[dict]:
    """Rows ``topic, rank, term, weight, frex``: the top terms by probability (``by="weight"``) or by
    FREX (``by="frex"``: high when the term is both frequent in the topic and exclusive to it, 0–1)."""
    beta = fitted.beta
    exclusivity = beta / np.maximum(beta.sum(axis=0, keepdims=True), 1e-12)
    rows = []
    for topic in range(beta.shape[0]):
        frequency_rank = _ecdf(beta[topic])
        exclusivity_rank = _ecdf(exclusivity[topic])
        frex = 1.0 / (frex_weight / exclusivity_rank + (1 - frex_weight) / frequency_rank)
        order = np.argsort(-(frex if by == "frex" else beta[topic]), kind="stable")
        for rank, term_id in enumerate(order[:top_n], start=1):
            rows.append({"topic": topic, "rank": rank, "term": fitted.terms[int(term_id)],
                         "weight": round(float(beta[topic, term_id]), 6), "frex": round(float(frex[term_id]), 4)})
    return rows


def document_topics(model, bows: Sequence[list[tuple[int, int]]], seed: int) -> np.ndarray:
    """Texts × topics shares of an LDA model (each row sums to 1), with no share dropped.  Inference
    starts from ``seed`` for every text, so a text's shares depend on its words alone, not on which
    texts came before it: the same whether it was in the fit or folded in later."""
    shares = np.zeros((len(bows), model.num_topics))
    for index, bow in enumerate(bows):
        model.random_state = np.random.RandomState(seed)
        for topic, share in model.get_document_topics(bow, minimum_probability=0.0):
            shares[index, topic] = share
    return shares


def coherence(beta: np.ndarray, corpus: Corpus, measure: str, top_n: int = TOP_N) -> float:
    """Coherence of the topics' top terms (gensim ``CoherenceModel``; c_v and c_npmi read the texts with a
    sliding window, u_mass the document co-occurrence counts)."""
    from gensim.models.coherencemodel import CoherenceModel

    topics = [[corpus.dictionary[int(i)] for i in np.argsort(-row, kind="stable")[:top_n]] for row in beta]
    kwargs = {"corpus": corpus.bow} if measure == "u_mass" else {"texts": corpus.texts}
    if measure == "c_v":
        kwargs["window_size"] = CV_WINDOW
    scorer = CoherenceModel(topics=topics, dictionary=corpus.dictionary, coherence=measure, topn=top_n,
                            processes=1, **kwargs)
    return float(scorer.get_coherence())


def sweep(corpus: Corpus, ks: Sequence[int], seed: int, *, workers: int = 1,
          measures: Sequence[str] = ("c_v", "c_npmi", "u_mass")) -> list[dict]:
    """One row per K: coherence by each measure and the per-word perplexity bound, K fitted in parallel."""
    tasks = [(corpus, ModelSettings(k=k, seed=seed), tuple(measures)) for k in ks]
    if workers > 1 and len(tasks) > 1:
        # the workers collect their garbage even when they fork from a caller that paused its
        # collector (a batch run does, for its corpus-wide stages)
        with ProcessPoolExecutor(max_workers=workers, initializer=gc.enable) as pool:
            return list(pool.map(_score, tasks))
    return [_score(task) for task in tasks]


def k_range(text: str) -> list[int]:
    """``"4..20"`` → [4, …, 20]; ``"6"`` → [6].  K starts at 2."""
    first, separator, last = str(text).partition("..")
    try:
        ks = list(range(int(first), int(last) + 1)) if separator else [int(first)]
    except ValueError:
        raise ValueError(f"expected A..B (e.g. 4..20) or one number, got {text!r}") from None
    if not ks or min(ks) < 2:
        raise ValueError(f"{text!r}: K starts at 2 and A..B must not be empty")
    return ks


def choose_k(rows: list[dict], measure: str = "c_v") -> tuple[int, str]:
    """The K with the highest coherence (ties: the smaller K), and why, for the manifest."""
    best = max(rows, key=lambda row: (row[measure], -row["k"]))
    return best["k"], f"highest {measure} coherence ({best[measure]:.4f}, top {TOP_N} terms) over K = " \
                      f"{', '.join(str(row['k']) for row in rows)}"


def _score(task) -> dict:
    corpus, settings, measures = task
    model = fit(corpus, settings)
    row = {"k": settings.k, "seed": settings.seed, "top_n": TOP_N,
           "windows": f"c_v {CV_WINDOW}, c_npmi 10 (boolean sliding); u_mass: documents"}
    for measure in measures:
        row[measure] = round(coherence(model.get_topics(), corpus, measure), 6)
    row["log_perplexity"] = round(float(model.log_perplexity(corpus.bow)), 6)
    row["perplexity"] = round(math.pow(2, -row["log_perplexity"]), 3)
    return row


def _rows_sum_to_one(matrix: np.ndarray) -> np.ndarray:
    totals = matrix.sum(axis=1, keepdims=True)
    return np.where(totals > 0, matrix / np.where(totals > 0, totals, 1), 1.0 / matrix.shape[1])


def _ecdf(values: np.ndarray) -> np.ndarray:
    """Each value's empirical cumulative share within its vector (as stm's FREX uses)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks / len(values)


def stability(corpus: Corpus, k: int, seeds: Sequence[int], top_n: int = TOP_N, method: str = "lda") -> list[dict]:
    """How well each topic of the first seed's model is found again under the other seeds: topics are
    paired one-to-one by the Jaccard similarity of their top terms (Hungarian assignment, scipy) and
    the pairs' similarities averaged per topic.  A topic below 0.5 is flagged unstable."""
    from scipy.optimize import linear_sum_assignment

    tops = []
    for seed in seeds:
        beta = fit_topics(corpus, ModelSettings(k=k, seed=seed), method).beta
        tops.append([set(np.argsort(-row)[:top_n].tolist()) for row in beta])
    reference, matches = tops[0], [[] for _ in range(k)]
    for other in tops[1:]:
        similarity = np.array([[len(a & b) / len(a | b) for b in other] for a in reference])
        rows, columns = linear_sum_assignment(-similarity)
        for row, column in zip(rows, columns):
            matches[row].append(float(similarity[row, column]))
    return [{"topic": topic, "mean_jaccard": round(float(np.mean(found)), 4) if found else 1.0,
             "min_jaccard": round(float(np.min(found)), 4) if found else 1.0, "seeds": len(seeds),
             "unstable": bool(found) and float(np.mean(found)) < 0.5}
            for topic, found in enumerate(matches)]


def prevalence(shares: np.ndarray, groups: Sequence[str], *, boot: int = 1000, seed: int = 0,
               level: float = 0.95, earlier: dict | None = None, kept: dict | None = None) -> list[dict]:
    """Mean topic share per group with a percentile bootstrap interval (texts resampled within the
    group).  Descriptive: not a structural topic model, no covariate enters the fit.

    Each group is resampled by its own generator, ``numpy.random.default_rng([seed, crc32(group)])``,
    so its rows depend on its own texts alone: ``earlier`` (rows by ``prevalence_key``, from an
    earlier call) gives those of a group whose shares are unchanged, and ``kept`` receives every
    group's rows by key, for the next call."""
    rows = []
    labels = np.array(list(groups))
    low, high = (1 - level) / 2, 1 - (1 - level) / 2
    for group in sorted(set(groups)):
        members = shares[labels == group]
        key = prevalence_key(members, group, boot=boot, seed=seed, level=level)
        found = (earlier or {}).get(key) or _group_prevalence(members, group, boot, seed, low, high)
        if kept is not None:
            kept[key] = found
        rows += found
    return rows


def prevalence_key(members: np.ndarray, group: str, *, boot: int, seed: int, level: float) -> str:
    members = np.ascontiguousarray(members, dtype=np.float64)
    return hashlib.sha256(repr((group, members.shape, boot, seed, level)).encode() + members.tobytes()).hexdigest()


def _group_prevalence(members: np.ndarray, group: str, boot: int, seed: int, low: float, high: float) -> list[dict]:
    n = len(members)
    draws = np.random.default_rng([seed, zlib.crc32(group.encode())]).integers(0, n, size=(boot, n))
    # how often each text is drawn in each resample, times the shares: the resamples' means
    # without a boot × texts × topics array (a gigabyte for a national database)
    drawn = np.bincount((np.arange(boot)[:, None] * n + draws).ravel(), minlength=boot * n).reshape(boot, n)
    means = drawn @ members / n  # boot × topics
    bounds = np.quantile(means, [low, high], axis=0)  # every topic's at once: the same numbers as one by one
    return [{"group": group, "topic": topic, "n": n, "mean_share": round(float(members[:, topic].mean()), 6),
             "ci_low": round(float(bounds[0, topic]), 6), "ci_high": round(float(bounds[1, topic]), 6)}
            for topic in range(members.shape[1])]


def read_labels(path, k: int) -> dict[int, str]:
    """Topic number → a scholar's label, from a YAML file; a missing file is written as a template."""
    from .yamlfile import read_yaml

    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["# Labels for the topics of one fitted model (its id is the file name). Write a short name after",
                 "# each number; policoder reads them on every run of the same model and never overwrites this file.",
                 "labels:"] + [f"  {topic}: \"\"" for topic in range(k)]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return {}
    node = read_yaml(path, code="topic-labels-invalid")
    labels = node.get("labels")
    if labels is None or not isinstance(labels.value, dict):
        raise node.error("expected 'labels:' with one 'number: label' line per topic")
    found = {}
    for key, child in labels.children.items():
        if not isinstance(key, int) or not 0 <= key < k:
            raise child.error(f"topic {key!r} is not a topic number 0–{k - 1}")
        found[key] = str(child.value or "").strip()
    return found


@as_written
def draw_prevalence(rows: list[dict], labels: dict[int, str], path, *, font_path: str | None = None) -> None:
    """Mean topic share per group with its bootstrap interval, one panel of bars per group."""
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    from .stats import find_cjk_font

    font = FontProperties(fname=find_cjk_font(font_path))
    groups = sorted({row["group"] for row in rows})
    k = 1 + max(row["topic"] for row in rows)
    figure = Figure(figsize=(max(6, 1.2 * k + 2), 4), dpi=150)
    axes = figure.add_subplot()
    width = 0.8 / len(groups)
    for index, group in enumerate(groups):
        mine = sorted((row for row in rows if row["group"] == group), key=lambda row: row["topic"])
        positions = [row["topic"] + index * width for row in mine]
        means = [row["mean_share"] for row in mine]
        errors = [[m - row["ci_low"] for m, row in zip(means, mine)], [row["ci_high"] - m for m, row in zip(means, mine)]]
        axes.bar(positions, means, width=width, yerr=errors, capsize=2, label=group)
    axes.set_xticks([t + 0.4 - width / 2 for t in range(k)],
                    [labels.get(t) or f"topic {t}" for t in range(k)], fontproperties=font)
    axes.set_ylabel("mean topic share (95% bootstrap CI)")
    axes.legend(prop=font, fontsize=8)
    figure.tight_layout()
    figure.savefig(path)


def write_html(path, described: list[dict], representative: list[dict], stable: list[dict], summary: dict) -> None:
    """A small self-contained page to browse the topics: per topic its label, stability, top terms as
    bars (probability) with FREX, and the texts where it weighs most.  No script, no network."""
    from html import escape

    by_topic: dict[int, list[dict]] = {}
    for row in described:
        by_topic.setdefault(row["topic"], []).append(row)
    flags = {row["topic"]: row for row in stable}
    parts = [f"<!doctype html><meta charset=utf-8><title>topics {escape(summary['model_id'])}</title>",
             "<style>body{font-family:sans-serif;margin:2em;max-width:60em}section{border-top:1px solid #ccc;"
             "padding:.5em 0}.bar{background:#4c78a8;height:.8em;display:inline-block}td{padding:0 .6em}"
             ".unstable{color:#b00}</style>",
             f"<h1>{summary['k']} topics ({escape(summary['method'])}), {summary['texts']} {escape(summary['per'])}s</h1>",
             f"<p>model {escape(summary['model_id'])}, seed {summary['seed']}; {escape(summary['prevalence'])}</p>"]
    for topic, rows in sorted(by_topic.items()):
        label = rows[0].get("label") or f"topic {topic}"
        stability = flags.get(topic, {})
        state = " <span class=unstable>unstable</span>" if stability.get("unstable") else ""
        top = max(row["weight"] for row in rows) or 1
        parts.append(f"<section><h2>{topic}: {escape(label)}{state}</h2>"
                     f"<p>stability across seeds (mean Jaccard of top terms): {stability.get('mean_jaccard', '')}</p><table>")
        for row in rows:
            parts.append(f"<tr><td>{escape(row['term'])}</td><td><span class=bar style='width:{20 * row['weight'] / top:.1f}em'>"
                         f"</span> {row['weight']:.4f}</td><td>FREX {row['frex']:.3f}</td></tr>")
        parts.append("</table><p>weighs most in: " + ", ".join(
            f"document {r['doc_id']}{' unit ' + escape(r['unit_id']) if r['unit_id'] else ''} ({r['share']:.2f})"
            for r in representative if r["topic"] == topic) + "</p></section>")
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")


def best_unit(fitted: Fitted, topic: int, units: list[tuple[str, Sequence[str]]]) -> str:
    """Of a document's units ``(unit_id, terms)``, the one whose terms weigh most in ``topic`` on average."""
    index = {term: i for i, term in enumerate(fitted.terms)}
    best, best_score = "", -1.0
    for unit_id, terms in units:
        known = [index[term] for term in terms if term in index]
        score = float(fitted.beta[topic, known].mean()) if known else 0.0
        if score > best_score:
            best, best_score = unit_id, score
    return best
