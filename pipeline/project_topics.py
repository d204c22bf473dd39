"""The topic-model part of the library API: ``Project.topics`` (one K), ``Project.topic_sweep`` (a
range of K scored by coherence) and the batch run's topic stage, which keeps its fitted model and
folds changed documents into it instead of refitting on every edit.

Why fold in: a model is a reading of the corpus that a scholar labels (``topic_labels/<model id>.yaml``)
and cites; refitting because one document changed would renumber the topics and orphan the labels.
The run refits when the settings change, with ``--force``, or once the texts changed since the fit
exceed ``[topics] refit_after`` (a share of the fitted texts); ``doc_topics.csv`` marks which texts'
shares were fitted and which folded in, and the stage's summary says how many.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import shutil
from importlib.metadata import version
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson

from . import db as store
from . import export, stats, topics
from .charts import Charts
from .errors import ConfigError, ProjectError
from .records import utc_now
from .stats import find_cjk_font
from .tokens import tokenizer_hash

PREVALENCE_FILE = ".prevalence.json"  # each covariate group's prevalence rows by the digest of its shares
MODEL_FILE = "topic_model.joblib"  # the fitted model beside its tables, for the next run to fold texts into
SWEEP_FILES = ("coherence_by_k.csv", "coherence_by_k.png", "sweep_summary.json")


class TopicMethods:
    """Mixed into ``Project`` (which gives ``db``, ``config``, ``root``, ``unit_terms`` (``_tokenized_terms``:
    without tokenizing first), ``document_terms`` and ``display_path``)."""

    def topics(self, k: int, out: str | Path, *, seed: int | None = None, per: str = "document",
               kind: str | None = "policy", stability_seeds: int = 3, corpus: topics.CorpusSettings | None = None,
               representatives: int = 5, method: str = "lda") -> dict:
        """Fit LDA (or NMF, ``method="nmf"``) with K topics; store the shares in the database and write
        topics.csv, doc_topics.csv, representative.csv, stability.csv, prevalence.csv (+ charts),
        topics_summary.json and the model (``topic_model.joblib``) to ``out``.

        Topic labels are read from ``topic_labels/<model id>.yaml`` in the project (written as a template
        on the first fit): the same texts, settings and seed give the same model id, so labels a scholar
        wrote survive re-runs, and a changed model gets a fresh template instead of wrong labels."""
        seed = self.config.project.seed if seed is None else seed
        units = self.unit_terms(kind=kind)
        texts = _TopicTexts.of(units, per)
        settings = corpus or topics.CorpusSettings()
        built = topics.build_corpus(texts.terms, settings)
        fitted, info = _fit(built, texts, settings, k, seed, method)
        info["stability"] = topics.stability(built, k, [seed + i for i in range(max(1, stability_seeds))],
                                             method=method)
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        topics.save(folder / MODEL_FILE, topics.Saved(fitted, built, texts.fingerprints, info))
        return self._write_topics(folder, fitted, texts, info, representatives=representatives)

    def topic_sweep(self, ks: list[int], out: str | Path, *, seed: int | None = None, per: str = "document",
                    kind: str | None = "policy", workers: int = 1, corpus: topics.CorpusSettings | None = None) -> dict:
        """Fit every K, score it (c_v, u_mass, perplexity) and write coherence_by_k.csv and its plot."""
        seed = self.config.project.seed if seed is None else seed
        texts = _TopicTexts.of(self.unit_terms(kind=kind), per)
        built = topics.build_corpus(texts.terms, corpus or topics.CorpusSettings())
        return _sweep(built, ks, seed, per, Path(out), workers)

    def _run_topics(self, folder: Path, *, workers: int, kept: Path | None,
                    documents: dict[int, dict] | None = None, drawing: Charts | None = None) -> dict:
        """The batch run's topic model: the configured K, or the K the sweep chooses; fitted afresh, or
        the model kept in ``kept`` with the changed texts folded in (only their terms are read).
        What and why, for the manifest.  ``documents``: the ``document_terms`` of the policy
        documents, when the caller has them already; ``drawing``: see ``_write_topics``."""
        section, seed = self.config.topics, self.config.project.seed
        settings = topics.CorpusSettings(no_below=section.no_below, no_above=section.no_above, phrases=section.phrases)
        if documents is None:
            documents = {d: entry for d, entry in self.document_terms().items() if entry["groups"]["kind"] == "policy"}
        # the units were tokenized for ``document_terms``
        texts = _TopicTexts.kept(documents, section.per,
                                 lambda doc_ids: self._tokenized_terms(kind="policy", doc_ids=doc_ids))
        if len(texts.meta) < 2:
            return {"skipped": f"{len(texts.meta)} {section.per}(s) to model; a topic model needs at least two"}
        # what a fit depends on besides the texts: when any of it changes, the kept model is not used
        fit_on = hashlib.sha256(orjson.dumps([
            dataclasses.asdict(settings), section.k, section.sweep, section.per, section.method, seed,
            tokenizer_hash(self.tokenizer_settings()), version("gensim"), version("scikit-learn")])).hexdigest()
        saved = topics.load(kept / MODEL_FILE) if kept and (kept / MODEL_FILE).is_file() else None
        changed = texts.changed_since(saved.texts) if saved and saved.info.get("fit_on") == fit_on else None
        if changed is not None and changed <= section.refit_after * len(saved.texts):
            shutil.copy2(kept / MODEL_FILE, folder / MODEL_FILE)  # still the fit's texts: drift adds up
            for name in SWEEP_FILES:
                if (kept / name).is_file():
                    shutil.copy2(kept / name, folder / name)
            fitted, info = _folded(saved, texts), saved.info
            fit = {"fit": "kept", "folded_in": int((~texts.in_fit(saved.texts)).sum()), "changed_since_fit": changed}
        else:
            built = topics.build_corpus(texts.terms, settings)
            k, reason = section.k, "configured ([topics] k)"
            try:
                if not k:
                    swept = _sweep(built, topics.k_range(section.sweep), seed, section.per, folder, workers)
                    k, reason = swept["chosen_k"], swept["reason"]
                fitted, info = _fit(built, texts, settings, k, seed, section.method)
            except ValueError as error:  # e.g. fewer terms left than topics asked for
                return {"skipped": str(error)}
            info |= {"stability": topics.stability(built, k, [seed + i for i in range(3)], method=section.method),
                     "fit_on": fit_on, "k": k, "reason": reason}
            topics.save(folder / MODEL_FILE, topics.Saved(fitted, built, texts.fingerprints, info))
            fit = {"fit": "fitted", "folded_in": 0, "changed_since_fit": 0}
        summary = self._write_topics(folder, fitted, texts, info, kept=kept, drawing=drawing,
                                     fitted_texts=saved.texts if fit["fit"] == "kept" else None)
        return {"k": info["k"], "reason": info["reason"], "method": section.method, "per": section.per,
                "seed": seed, "model_id": info["model_id"], "unstable_topics": summary["unstable_topics"], **fit,
                "refit_after": section.refit_after}

    def _write_topics(self, folder: Path, fitted: topics.Fitted, texts: _TopicTexts, info: dict, *, representatives: int = 5, fitted_texts: dict[str, str] | None = None,
                      kept: Path | None = None, drawing: Charts | None = None) -> dict:
        """A model's tables, charts and summary into ``folder``, its terms and shares into the database;
        ``fitted_texts`` are the texts of a kept model's fit (None: the model was fitted on these texts);
        ``kept``, the folder of an earlier run whose charts are reused where their numbers are unchanged;
        ``drawing``, the charts of ``folder`` when the caller waits for them (``Charts.save``)."""
        k, shares, meta, per = fitted.beta.shape[0], fitted.shares, texts.meta, texts.per
        model_id, stable = info["model_id"], info["stability"]
        labels = topics.read_labels(self.root / "topic_labels" / f"{model_id}.yaml", k)
        described = [{**row, "label": labels.get(row["topic"], "")} for row in topics.describe(fitted)]
        # a group whose texts' shares are as in the kept folder's model keeps its rows (its bootstrap is its own)
        earlier = orjson.loads((kept / PREVALENCE_FILE).read_bytes()) if kept and (kept / PREVALENCE_FILE).is_file() \
            else None
        groups_kept: dict[str, list[dict]] = {}
        prevalence = [{"covariate": covariate, **row} for covariate in ("level", "year", "issuer", "kind")
                      for row in topics.prevalence(shares, [m.get(covariate, "") or "(unknown)" for m in meta],
                                                   seed=fitted.seed, earlier=earlier, kept=groups_kept)]
        (folder / PREVALENCE_FILE).write_bytes(orjson.dumps(groups_kept))
        # the charts first: those to draw are drawn in another process while the rest is written
        notes, own = [], drawing is None
        drawing = Charts(folder, kept) if own else drawing
        try:
            font = find_cjk_font()
            for covariate in ("level", "year", "kind"):
                shown = [row for row in prevalence if row["covariate"] == covariate]
                name = f"prevalence_by_{covariate}.png"
                if not drawing.reuse([name], shown, labels, font):
                    drawing.draw(topics.draw_prevalence, shown, labels, folder / name, font_path=font)
        except ConfigError as error:
            if error.code != "font-missing":
                raise
            notes.append(f"charts not drawn: {error}")
        store.write_topic_model(
            self.db, {"model_id": model_id, "method": fitted.method, "k": k, "seed": fitted.seed, "per": per,
                      "created_at": utc_now(), "settings": info["settings"]},
            described, [{"doc_id": m["doc_id"], "unit_id": m["unit_id"], "topic": t, "share": round(float(v), 6)}
                        for m, row in zip(meta, shares) for t, v in enumerate(row)])
        in_fit = texts.in_fit(fitted_texts) if fitted_texts is not None else np.ones(len(meta), dtype=bool)
        doc_rows = [{**{key: m[key] for key in ("doc_id", "unit_id")}, "dominant_topic": int(row.argmax()),
                     "fitted": bool(fitted_here),
                     **{f"topic_{t}": round(float(v), 6) for t, v in enumerate(row)}}
                    for m, row, fitted_here in zip(meta, shares, in_fit)]
        picked = [(topic, rank, i) for topic in range(k)
                  for rank, i in enumerate(np.argsort(-shares[:, topic], kind="stable")[:representatives], 1)]
        # for a model of whole documents, the unit of each representative document that carries the topic most
        units_of = texts.units_of([meta[i]["doc_id"] for _, _, i in picked]) if per == "document" else {}
        representative = [
            {"topic": topic, "rank": rank, "doc_id": meta[i]["doc_id"],
             "unit_id": meta[i]["unit_id"] or topics.best_unit(
                 fitted, topic, [(unit.unit_id, unit.terms) for unit in units_of.get(meta[i]["doc_id"], [])]),
             "share": round(float(shares[i, topic]), 6), "label": labels.get(topic, "")}
            for topic, rank, i in picked]
        by_frex = [{**row, "label": labels.get(row["topic"], "")} for row in topics.describe(fitted, by="frex")]
        for name, rows in (("topics", described), ("topics_frex", by_frex), ("doc_topics", doc_rows),
                           ("representative", representative), ("stability", stable), ("prevalence", prevalence)):
            export.write_table(rows, "csv", folder / f"{name}.csv", sheet=name)
        summary = {"model_id": model_id, "method": fitted.method, "k": k, "seed": fitted.seed, "per": per,
                   "texts": len(meta), "fitted_texts": int(in_fit.sum()), "terms": len(fitted.terms),
                   "unstable_topics": [row["topic"] for row in stable if row["unstable"]],
                   "labels_file": self.display_path(self.root / "topic_labels" / f"{model_id}.yaml"), "notes": notes,
                   "prevalence": "descriptive: mean topic shares per group with bootstrap CIs, not an STM"}
        (folder / "topics_summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        topics.write_html(folder / "topics.html", described, representative, stable, summary)
        if own:
            drawing.save()
        return summary


@dataclasses.dataclass(frozen=True)
class _TopicTexts:
    """The texts a topic model reads: one per document (its units' terms joined) or one per unit,
    with their IDs, groups and fingerprints.  Their terms are read when asked for (``terms_of``:
    a kept model folds in only the changed texts), from ``read``, which gives the units of some
    documents."""

    per: str
    meta: list[dict]
    fingerprints: dict[str, str]  # text key → a digest of its terms: what a later run compares to find changed texts
    read: Callable[[list[int]], list[stats.UnitTerms]]

    @classmethod
    def of(cls, units: list[stats.UnitTerms], per: str) -> _TopicTexts:
        """The texts of ``units`` (in memory)."""
        meta, terms = _texts(units, per)
        of_document: dict[int, list[stats.UnitTerms]] = {}
        for unit in units:
            of_document.setdefault(unit.doc_id, []).append(unit)
        return cls(per, meta, {_key(m): stats.terms_fingerprint(t) for m, t in zip(meta, terms)},
                   lambda doc_ids: [unit for doc_id in doc_ids for unit in of_document.get(doc_id, [])])

    @classmethod
    def kept(cls, documents: dict[int, dict], per: str, read: Callable[[list[int]], list[stats.UnitTerms]]
             ) -> _TopicTexts:
        """The texts of documents given by their ``Project.document_terms`` entries."""
        _texts([], per)  # the check of ``per``
        if per == "document":
            meta = [{"doc_id": doc_id, "unit_id": "", **entry["groups"]} for doc_id, entry in documents.items()]
            prints = [entry["text"] for entry in documents.values()]
        else:
            found = [({"doc_id": doc_id, "unit_id": unit_id, **entry["groups"]}, print_)
                     for doc_id, entry in documents.items() for unit_id, print_ in entry["unit_texts"]]
            meta, prints = [m for m, _ in found], [p for _, p in found]
        return cls(per, meta, {_key(m): p for m, p in zip(meta, prints)}, read)

    def keys(self) -> list[str]:
        return list(map(_key, self.meta))

    def units_of(self, doc_ids: list[int]) -> dict[int, list[stats.UnitTerms]]:
        """The units of some documents, by document."""
        found: dict[int, list[stats.UnitTerms]] = {}
        for unit in self.read(sorted(set(doc_ids))):
            found.setdefault(unit.doc_id, []).append(unit)
        return found

    def terms_of(self, indexes) -> list[list[str]]:
        """The terms of the texts at ``indexes`` (reading only their documents' units)."""
        wanted = [self.meta[i] for i in indexes]
        meta, terms = _texts(self.read(sorted({m["doc_id"] for m in wanted})), self.per)
        by_key = dict(zip(map(_key, meta), terms))
        return [by_key[_key(m)] for m in wanted]

    @functools.cached_property
    def terms(self) -> list[list[str]]:
        return self.terms_of(range(len(self.meta)))

    def in_fit(self, fitted: dict[str, str]) -> np.ndarray:
        """Which texts the model was fitted on exactly as they are now."""
        return np.array([fitted.get(key) == print_ for key, print_ in self.fingerprints.items()], dtype=bool)

    def changed_since(self, fitted: dict[str, str]) -> int:
        """Texts new, changed or gone since the fit."""
        now = self.fingerprints
        return sum(fitted.get(key) != print_ for key, print_ in now.items()) + len(fitted.keys() - now.keys())


def _key(meta: dict) -> str:
    return f"{meta['doc_id']}/{meta['unit_id']}"


def _texts(units: list[stats.UnitTerms], per: str) -> tuple[list[dict], list[list[str]]]:
    """The texts of ``units``: their IDs and groups, and their terms."""
    if per == "unit":
        return [{"doc_id": u.doc_id, "unit_id": u.unit_id, **u.groups} for u in units], [list(u.terms) for u in units]
    if per != "document":
        raise ProjectError(f"topics are fitted per 'document' or per 'unit', not {per!r}", code="unknown-group-field")
    documents: dict[int, dict] = {}
    for unit in units:
        entry = documents.setdefault(unit.doc_id, {"meta": {"doc_id": unit.doc_id, "unit_id": "", **unit.groups},
                                                   "terms": []})
        entry["terms"] += unit.terms
    return [d["meta"] for d in documents.values()], [d["terms"] for d in documents.values()]


def _fit(built: topics.Corpus, texts: _TopicTexts, settings: topics.CorpusSettings, k: int, seed: int,
         method: str) -> tuple[topics.Fitted, dict]:
    """The fitted model, and its id and settings: the same texts, settings and seed give the same id."""
    model_settings = topics.ModelSettings(k=k, seed=seed)
    fitted = topics.fit_topics(built, model_settings, method)
    model_id = hashlib.sha256(json.dumps([texts.terms, dataclasses.asdict(settings), dataclasses.asdict(model_settings),
                                          texts.per, method], ensure_ascii=False).encode()).hexdigest()[:12]
    return fitted, {"model_id": model_id,
                    "settings": {**dataclasses.asdict(settings), **dataclasses.asdict(model_settings)}}


def _folded(saved: topics.Saved, texts: _TopicTexts) -> topics.Fitted:
    """The kept model with the current texts' shares: as fitted for texts unchanged since the fit,
    folded in for the others."""
    order = {key: index for index, key in enumerate(saved.texts)}
    in_fit = texts.in_fit(saved.texts)
    shares = np.zeros((len(texts.meta), saved.fitted.beta.shape[0]))
    keys = texts.keys()
    for index in np.flatnonzero(in_fit):
        shares[index] = saved.fitted.shares[order[keys[index]]]
    new = np.flatnonzero(~in_fit)
    if len(new):
        shares[new] = topics.fold_in(saved.fitted, saved.corpus, texts.terms_of(new))
    return dataclasses.replace(saved.fitted, shares=shares)


def _sweep(built: topics.Corpus, ks: list[int], seed: int, per: str, folder: Path, workers: int) -> dict:
    rows = topics.sweep(built, ks, seed, workers=workers)
    chosen, reason = topics.choose_k(rows)
    export.write_table(rows, "csv", folder / "coherence_by_k.csv", sheet="coherence_by_k")
    _plot_coherence(rows, folder / "coherence_by_k.png")
    summary = {"chosen_k": chosen, "reason": reason, "seed": seed, "per": per, "texts": len(built.bow),
               "coherence": f"c_v (boolean sliding window {topics.CV_WINDOW}), c_npmi (window 10) and u_mass over "
                            f"the top {topics.TOP_N} terms; reference corpus: the modelled texts"}
    (folder / "sweep_summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
    return summary


def _plot_coherence(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=150)
    axes = figure.add_subplot()
    ks = [row["k"] for row in rows]
    axes.plot(ks, [row["c_v"] for row in rows], marker="o", label="c_v")
    axes.set_xlabel("K (topics)")
    axes.set_ylabel("c_v coherence")
    twin = axes.twinx()
    twin.plot(ks, [row["u_mass"] for row in rows], marker="s", color="tab:orange", label="u_mass")
    twin.set_ylabel("u_mass coherence")
    figure.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path)
