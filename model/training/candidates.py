"""What a job could publish, scored alike: the RNN, the TF-IDF baseline (and its log-count-ratio
scaled twin, ``baseline_nb``, where one was fitted) and a blend of the RNN with one of them.

Each is scored on the job's evaluation set through the predictor a served bundle would use (the
RNN's calibrated probabilities, the baseline's ``LinearModel``), so ``winner`` names the one that
is best there, not an RNN figure measured one way beside a baseline figure measured another.
The blend is ``blend_log_probs``: ``w`` x the RNN's log-probabilities + ``(1 - w)`` x a linear
model's, with ``w`` from ``RNN_WEIGHTS`` and the linear partner chosen on the same evaluation set
(the best accuracy, then the lower log-loss; a tie keeps the plain baseline). Its figure is
therefore a little optimistic, as the C of the baseline and the epoch of the RNN are;
``candidates.blend.chosen_on`` says so. The weights step by 0.05, as a step of 0.1 left the best
weight between two steps on Chinese reviews (docs/benchmarks.md), and stop short of 0 and 1, which
are the linear model and the RNN themselves; a tie goes to the simpler candidate (RNN, then
baseline, then baseline_nb, then blend).

``keep`` (``TrainConfig.keep``) decides what is published: ``best`` (the default) the winner,
``rnn`` the RNN whatever won. Multi-label jobs score the RNN and the baseline (micro-F1) and publish the RNN: the
baseline and blended bundles are single-label.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..config import MULTI_LABEL
from ..data import Dataset
from ..inference.linear import LinearModel, blend_log_probs, log_softmax
from ..inference.predictor import Predictor, TorchNetwork
from ..inference.scoring import classification_report, evaluate
from .baseline import refit

RNN, BASELINE, BASELINE_NB, BLEND = "rnn", "baseline", "baseline_nb", "blend"
KEEP_RNN, KEEP_BEST = "rnn", "best"
RNN_WEIGHTS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # the RNN's share of a blend: 0.05 ... 0.95


@dataclass
class Choice:
    candidates: dict[str, dict[str, Any]]  # name -> its scores on the evaluation set
    winner: str  # the best there
    linears: dict[str, LinearModel] = field(default_factory=dict)  # baseline(s), columns in the RNN's label order
    rnn_weight: float | None = None  # the blend's (None: no blend was scored)
    blended_with: str = BASELINE  # the linear candidate in the blend
    notes: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # the RNN's, the column order of ``linears``
    refitted: dict[str, Any] | None = None  # what ``refit`` fitted again, where it did

    def published(self, keep: str) -> str:
        """The candidate that ``keep`` publishes."""
        if keep not in (KEEP_RNN, KEEP_BEST):
            raise ValueError(f"keep must be {KEEP_RNN!r} or {KEEP_BEST!r}; got {keep!r}")
        return self.winner if keep == KEEP_BEST and self.linears else RNN

    def bundle_parts(self, published: str) -> tuple[LinearModel | None, float]:
        """``write_bundle``'s ``linear`` and ``rnn_weight`` for the ``published`` candidate."""
        if published == RNN:
            return None, 1.0
        if published == BLEND:
            return self.linears[self.blended_with], self.rnn_weight
        return self.linears[published], 0.0

    def refit(self, published: str, baseline, train_data: Dataset, dev_data: Dataset) -> None:
        """Fit the linear model in ``published`` (a baseline, or a blend's partner) again on train and dev
        together at the C dev chose (``baseline.refit``), so that what is served learnt from every labelled
        example; ``candidates`` keep the scores measured before, on the model fitted on train alone.
        Nothing to do for the RNN."""
        name = self.blended_with if published == BLEND else published
        if name not in self.linears:
            return
        fitted = baseline.nb if name == BASELINE_NB else baseline
        t0 = time.perf_counter()
        linear = refit(train_data, dev_data, fitted.c, name == BASELINE_NB)
        self.linears[name] = _in_order(linear, baseline.labels, self.labels)
        self.refitted = {"linear": name, "c": fitted.c, "examples": len(train_data) + len(dev_data),
                         "seconds": round(time.perf_counter() - t0, 2)}

    def to_dict(self, keep: str) -> dict[str, Any]:
        return {"candidates": self.candidates, "winner": self.winner, "keep": keep,
                "published": self.published(keep), **({"refit": self.refitted} if self.refitted else {}),
                **({"notes": self.notes} if self.notes else {})}


def card_notes(record: dict[str, Any]) -> str:
    """The model card's section on the candidates (``Choice.to_dict``'s ``record``): what was
    published, and why, so that a card never shows the RNN's figures alone for a blend."""
    lines = ["## Candidates (scored on dev)", "", "| candidate | dev score | |", "|---|---|---|"]
    for name, c in record["candidates"].items():
        score = c.get("accuracy", c.get("micro_f1"))
        extra = f"RNN weight {c['rnn_weight']} with {c['linear']} (chosen on dev)" if "rnn_weight" in c else ""
        lines.append(f"| {name} | {score:.4f} | {extra} |")
    lines += ["", f"Winner on dev: {record['winner']}. keep: {record['keep']}; this bundle is the "
              f"{record['published']}" + ("" if record["published"] == RNN else
                                           " (the metrics above are the RNN part's)") + "."]
    if "refit" in record:
        r = record["refit"]
        lines.append(f"Its linear model ({r['linear']}, C={r['c']:g}) was then fitted again on train and dev together "
                     f"({r['examples']} examples): the dev scores above are the train-only fit's.")
    return "\n".join(lines + [f"Note: {n}" for n in record.get("notes", [])])


def rnn_predictor(result) -> Predictor:
    """The trained RNN (a ``TrainResult``) as its bundle will serve it: calibrated, on the CPU."""
    model = result.model.cpu().eval()
    return Predictor(network=TorchNetwork(model), tokenizer=result.tokenizer, config=model.config)


def choose(rnn: Predictor, baseline, dev_data: Dataset) -> Choice:
    """Score ``rnn`` (a ``Predictor``), ``baseline`` (a ``BaselineResult``) and their blend on ``dev_data``."""
    config = rnn.config
    if config.task == MULTI_LABEL:
        scores = {RNN: evaluate(rnn, dev_data)["micro_f1"], BASELINE: baseline.metrics["micro_f1"]}
        winner = BASELINE if scores[BASELINE] > scores[RNN] else RNN
        return Choice({k: {"micro_f1": v} for k, v in scores.items()}, winner,
                      notes=["multi-label: no blend is scored, and the RNN is published whatever keep says "
                             "(baseline and blended bundles are single-label)"])
    labels = list(config.labels)
    if sorted(baseline.labels) != sorted(labels):
        raise ValueError(f"the baseline's labels {baseline.labels} are not the RNN's {labels}")
    fitted = {BASELINE: baseline} | ({BASELINE_NB: baseline.nb} if baseline.nb is not None else {})
    linears = {name: _in_order(b.linear, baseline.labels, labels) for name, b in fitted.items()}
    index = {name: i for i, name in enumerate(labels)}
    gold = np.array([index[config.label_names.get(raw, raw)] for raw in dev_data.labels])
    rnn_log = np.log(np.maximum(rnn.predict_proba(dev_data.texts).astype(np.float64), 1e-30))
    candidates = {RNN: _scores(rnn_log, gold, labels)}
    best_blend = None
    for name, linear in linears.items():
        linear_log = log_softmax(linear.logits(dev_data.texts).astype(np.float64))
        candidates[name] = _scores(linear_log, gold, labels)
        blends = {w: _scores(blend_log_probs(rnn_log, linear_log, w), gold, labels) for w in RNN_WEIGHTS}
        w = max(RNN_WEIGHTS, key=lambda w: (blends[w]["accuracy"], -blends[w]["loss"]))
        blend = blends[w] | {"rnn_weight": w, "linear": name, "chosen_on": "the evaluation set (as the scores)",
                             "grid": [{"rnn_weight": v, "accuracy": blends[v]["accuracy"]} for v in RNN_WEIGHTS]}
        if best_blend is None or (blend["accuracy"], -blend["loss"]) > (best_blend["accuracy"], -best_blend["loss"]):
            best_blend = blend
    candidates[BLEND] = best_blend
    winner = RNN
    for name in (BASELINE, BASELINE_NB, BLEND):  # strictly better, or the simpler one stays
        if name in candidates and candidates[name]["accuracy"] > candidates[winner]["accuracy"]:
            winner = name
    return Choice(candidates, winner, linears, best_blend["rnn_weight"], best_blend["linear"], labels=labels)


def _in_order(linear: LinearModel, columns: list[str], labels: list[str]) -> LinearModel:
    """``linear`` (its columns named by ``columns``, the baseline's labels) with its columns in ``labels``' order."""
    order = [columns.index(label) for label in labels]
    return LinearModel(linear.vectorizer, linear.weight[:, order], linear.bias[order])


def _scores(log_probs: np.ndarray, gold: np.ndarray, labels: list[str]) -> dict[str, Any]:
    predicted = log_probs.argmax(axis=1)
    report = classification_report(gold.tolist(), predicted.tolist(), labels)
    loss = float(-log_probs[np.arange(len(gold)), gold].mean()) if len(gold) else 0.0
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "loss": round(loss, 6), "n": len(gold)}
