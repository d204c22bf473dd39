"""The trained instrument classifier: scikit-learn, from human-coded units, checked by document.

Features: TF-IDF of the unit's words (policoder's tokens, punctuation dropped, stop words kept:
不得 and 应当 are evidence here), TF-IDF of character 1–4-grams (robust to segmentation), TF-IDF of
the words of the unit's heading path (a chapter 奖励与扶持 or 法律责任 tells what its articles do), and
the rule classifier's scores per cue group (``pipeline.instruments``), for the unit and for its lead-in.
The recipe (these features, C = 16) was chosen on 2026-12-02 by training without each of written
sets 9–12 in turn and scoring on it (corpora/gold/README.md).
Targets: one logistic regression per presence flag of the scheme (multi-label: the labels coders
mark 0/1, ``Scheme.flags``) and one for the primary label.  Evaluation splits by document
(``GroupKFold``), never by unit: clauses of one document share wording, and a model tested on its
training document's siblings looks better than it is.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, MaxAbsScaler

from .errors import ConfigError
from .instruments import NONE, Prediction, RuleClassifier
from .tokens import TokenizerSettings, tokenize_rows

FEATURES = "words+chars14+headings+rules.v3"  # bump when the features change: older models are refused
HEADED = "§"  # not a token: punctuation is dropped from the words


@dataclass(frozen=True)
class Example:
    """One unit as the model sees it."""

    text: str
    context: str | None
    words: tuple[str, ...]
    rule_features: dict[str, float]
    heading_words: tuple[str, ...] = ()


@dataclass
class TrainedModel:
    scheme: str
    scheme_digest: str
    labels: tuple[str, ...]  # the scheme's presence flags
    presence: dict  # label → fitted pipeline, or a constant (a label never or always present in training)
    primary: object  # fitted pipeline
    seed: int
    training_hash: str
    n_units: int
    n_documents: int
    evaluation: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        key = json.dumps([FEATURES, self.scheme_digest, self.training_hash, self.seed])
        return hashlib.sha256(key.encode()).hexdigest()[:12]

    def predict(self, examples: list[Example], rules: list[Prediction]) -> list[Prediction]:
        transformed: dict[int, object] = {}
        probabilities = {label: _presence_probability(self.presence[label], examples, transformed)
                         for label in self.labels}
        primary_probabilities = _probabilities(self.primary, examples, transformed)
        classes = list(self.primary.classes_)
        predictions = []
        for index, rule in enumerate(rules):
            present = {label for label in self.labels if probabilities[label][index] >= 0.5}
            ranked = [classes[i] for i in np.argsort(-primary_probabilities[index], kind="stable")]
            primary, carried = ranked[0], present - {NONE}
            if primary == NONE and carried:  # a unit that carries an instrument is not primarily none
                primary = next((c for c in ranked if c in carried), None) or \
                    max(sorted(carried), key=lambda label: probabilities[label][index])
            shares = {label: round(float(probabilities[label][index]), 4) for label in self.labels}
            shares.update({f"primary:{c}": round(float(p), 4) for c, p in zip(classes, primary_probabilities[index])})
            predictions.append(Prediction(labels=frozenset(present | {primary}) - ({NONE} if present else set()),
                                          primary=primary, scores=shares, hits=rule.hits, source=f"model:{self.id}"))
        return predictions


def examples(rules: RuleClassifier, texts: list[str], contexts: list[str | None],
             settings: TokenizerSettings, headings: list[list[str]] | None = None) -> tuple[list[Example], list[Prediction]]:
    """Units → model inputs, with the rule predictions they were built from.  ``headings``: each
    unit's heading path (``instrument_units()``'s ``heading_path``), none when not given."""
    predictions = [rules.predict(text, context=context) for text, context in zip(texts, contexts)]
    tokenized = tokenize_rows(settings, texts)
    headed = tokenize_rows(settings, [" ".join(path or ()) for path in headings or [()] * len(texts)])
    built = []
    for text, context, rows, heading, prediction in zip(texts, contexts, tokenized, headed, predictions):
        features: Counter = Counter()
        for hit in prediction.hits:
            features[("lead:" if hit.in_context else "") + hit.group] += hit.weight
        for label, score in prediction.scores.items():
            features[f"score:{label}"] = score
        features[f"rule_primary:{prediction.primary}"] = 1.0
        built.append(Example(text=text, context=context, words=_words_of(rows), rule_features=dict(features),
                             heading_words=_words_of(heading)))
    return built, predictions


def train(examples_: list[Example], targets: list[dict], groups: list[int], *, scheme, seed: int,
          folds: int = 5) -> TrainedModel:
    """Fit on every example; ``evaluation`` holds the document-grouped cross-validation of the same recipe."""
    labels = scheme.flags  # what coders mark besides the primary: any other label is known only as a primary
    model = _fit(examples_, targets, labels, seed)
    model.scheme, model.scheme_digest = scheme.id, scheme.digest
    model.training_hash = _training_hash(examples_, targets, groups)
    model.n_units, model.n_documents = len(examples_), len(set(groups))
    model.evaluation = cross_validate(examples_, targets, groups, labels=labels, seed=seed, folds=folds)
    model.versions = {"scikit-learn": sklearn.__version__, "features": FEATURES}
    return model


def cross_validate(examples_: list[Example], targets: list[dict], groups: list[int], *, labels: tuple[str, ...],
                   seed: int, folds: int = 5) -> dict:
    """Pooled out-of-fold predictions of a document-grouped k-fold, scored with ``evaluate``."""
    folds = min(folds, len(set(groups)))
    if folds < 2:
        raise ConfigError("instruments", "cross-validation needs coded units from at least two documents",
                          code="instruments-too-few-documents")
    predicted: list[dict] = [{} for _ in examples_]
    for train_index, test_index in GroupKFold(n_splits=folds).split(examples_, groups=groups):
        model = _fit([examples_[i] for i in train_index], [targets[i] for i in train_index], labels, seed)
        held_out, transformed = [examples_[i] for i in test_index], {}
        probabilities = {label: _presence_probability(model.presence[label], held_out, transformed) for label in labels}
        primary = model.primary.classes_[_probabilities(model.primary, held_out, transformed).argmax(axis=1)]
        for position, index in enumerate(test_index):
            present = {label for label in labels if probabilities[label][position] >= 0.5}
            predicted[index] = {"labels": present | {primary[position]}, "primary": primary[position]}
    report = evaluate(targets, predicted, labels)
    report["protocol"] = f"GroupKFold({folds}) by document, pooled out-of-fold predictions"
    return report


def evaluate(gold: list[dict], predicted: list[dict], flags: tuple[str, ...]) -> dict:
    """Precision, recall and F1 of each presence flag and of each primary label, macro-F1 over the flags,
    primary accuracy and the confusion matrix of the primary label (scikit-learn's metrics)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    report: dict = {"n": len(gold), "flags": {}}
    for flag in flags:
        truth = [int(flag in row["labels"]) for row in gold]
        guess = [int(flag in row["labels"]) for row in predicted]
        precision, recall, f1, _ = precision_recall_fscore_support(truth, guess, average="binary", zero_division=0)
        report["flags"][flag] = {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
                                 "support": sum(truth)}
    report["macro_f1_flags"] = round(float(np.mean([row["f1"] for row in report["flags"].values()])), 3)
    truth, guess = [row["primary"] for row in gold], [row["primary"] for row in predicted]
    classes = sorted(set(truth) | set(guess))
    precision, recall, f1, support = precision_recall_fscore_support(truth, guess, labels=classes, zero_division=0)
    report["primary_accuracy"] = round(accuracy_score(truth, guess), 3)
    report["primary"] = {label: {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "support": int(s)}
                         for label, p, r, f, s in zip(classes, precision, recall, f1, support)}
    report["primary_macro_f1"] = round(float(np.mean(f1)), 3)
    report["confusion"] = {"labels": classes,
                           "matrix": confusion_matrix(truth, guess, labels=classes).tolist()}  # rows: gold
    return report


def save(model: TrainedModel, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path)
    meta = {key: getattr(model, key) for key in ("scheme", "scheme_digest", "seed", "training_hash", "n_units",
                                                 "n_documents", "evaluation", "versions")}
    path.with_suffix(".json").write_text(json.dumps({"id": model.id, **meta}, indent=2, ensure_ascii=False),
                                         encoding="utf-8")
    return path


def load(path: Path, scheme) -> TrainedModel:
    if not path.is_file():
        raise ConfigError(str(path), "model file not found; train one with `policoder instruments train`",
                          key="instruments.model", code="model-missing")
    model = joblib.load(path)
    if not isinstance(model, TrainedModel) or model.versions.get("features") != FEATURES:
        raise ConfigError(str(path), "not a model of this policoder version; train it again",
                          key="instruments.model", code="model-stale")
    if model.scheme != scheme.id:
        raise ConfigError(str(path), f"trained for scheme {model.scheme!r}, but the project uses {scheme.id!r}; "
                                     f"train a model for it, or set [instruments] model = \"\" to use the rules",
                          key="instruments.model", code="model-stale")
    if model.scheme_digest != scheme.digest:
        raise ConfigError(str(path), f"trained under another version of scheme {model.scheme!r}; train it again",
                          key="instruments.model", code="model-stale")
    return model


# --- internals -----------------------------------------------------------------------------------

def _words_of(tokens) -> tuple[str, ...]:
    return tuple(norm for _, _, norm, _, punct in tokens if not punct)


def _texts(batch: list[Example]) -> list[str]:
    return [example.text for example in batch]


def _words(batch: list[Example]) -> list[tuple[str, ...]]:
    return [example.words for example in batch]


def _heading_words(batch: list[Example]) -> list[tuple[str, ...]]:
    # a word every unit has keeps the vocabulary from being empty where no training unit has a heading
    return [(HEADED, *example.heading_words) for example in batch]


def _rule_features(batch: list[Example]) -> list[dict[str, float]]:
    return [example.rule_features for example in batch]


def _identity(words):
    return words


def _features():
    return FeatureUnion([
        ("words", make_pipeline(FunctionTransformer(_words), TfidfVectorizer(analyzer=_identity, sublinear_tf=True))),
        ("chars", make_pipeline(FunctionTransformer(_texts),
                                TfidfVectorizer(analyzer="char", ngram_range=(1, 4), min_df=2, sublinear_tf=True))),
        ("headings", make_pipeline(FunctionTransformer(_heading_words),
                                   TfidfVectorizer(analyzer=_identity, min_df=2, sublinear_tf=True))),
        # the rule scores (sums of cue weights) scaled to at most 1, as the TF-IDF columns are: unscaled,
        # they slowed the solver fourfold and weighed more than the words (bench/loso_instruments.py)
        ("rules", make_pipeline(FunctionTransformer(_rule_features), DictVectorizer(), MaxAbsScaler())),
    ])


def _classifier(seed: int):
    # newton-cg reaches the same optimum as lbfgs (the same scores leaving each gold set out) in fewer
    # steps: the three models of the 7,639 gold units' 160,000 features in 7 s against 11 s
    return LogisticRegression(C=16.0, class_weight="balanced", max_iter=5000, random_state=seed, solver="newton-cg")


def _fit(examples_: list[Example], targets: list[dict], labels: tuple[str, ...], seed: int) -> TrainedModel:
    # the features are fitted once and shared by the flags' and the primary label's models
    features = _features().fit(examples_)
    matrix = features.transform(examples_)

    def fitted(y: list) -> Pipeline:
        return Pipeline([("features", features), ("classifier", _classifier(seed).fit(matrix, y))])

    presence = {}
    for label in labels:
        y = [int(label in target["labels"]) for target in targets]
        # a label all or none of the training units carry cannot be learned: it stays constant
        presence[label] = fitted(y) if 0 < sum(y) < len(y) else float(bool(y and y[0]))
    primary = fitted([target["primary"] for target in targets])
    return TrainedModel(scheme="", scheme_digest="", labels=labels, presence=presence, primary=primary, seed=seed,
                        training_hash="", n_units=0, n_documents=0)


def _presence_probability(model, batch: list[Example], transformed: dict[int, object]) -> np.ndarray:
    if isinstance(model, float):
        return np.full(len(batch), model)
    return _probabilities(model, batch, transformed)[:, 1]


def _probabilities(model: Pipeline, batch: list[Example], transformed: dict[int, object]) -> np.ndarray:
    """``model.predict_proba(batch)``, the batch's features computed once for the models that share
    them (``transformed``: features step's id → the batch's matrix)."""
    features, classifier = model.steps[0][1], model.steps[-1][1]
    if id(features) not in transformed:
        transformed[id(features)] = features.transform(batch)
    return classifier.predict_proba(transformed[id(features)])


def _training_hash(examples_: list[Example], targets: list[dict], groups: list[int]) -> str:
    digest = hashlib.sha256()
    for example, target, group in zip(examples_, targets, groups):
        digest.update(json.dumps([group, example.text, example.context, sorted(target["labels"]), target["primary"]],
                                 ensure_ascii=False).encode())
    return digest.hexdigest()
