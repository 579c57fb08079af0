"""A fast linear baseline: hashed TF-IDF n-grams (``tfidf.py``) and a multinomial logistic regression.

Every training job fits it on the job's own train/dev split as a yardstick for the RNN, so it has
to be cheap and need nothing the service image lacks. scikit-learn's ``TfidfVectorizer`` +
``LogisticRegression`` would do (it is the reference the tests compare against), but with SciPy it
would take a large share of an image that must stay small; this is the same model on numpy and torch.

Features: character 1-3-grams, and word 1-2-grams for text written with spaces (``tfidf.py``): the
n-grams scikit-learn's reference uses, and character unigrams keep the one-character words of
Chinese that ranges starting at 2 lost. Longer character ranges cost many more matrix entries
(and time) for little accuracy.

Classifier: softmax regression with an L2 penalty (sklearn's convention: C times the summed
cross-entropy plus half the squared weights; the bias is not penalised), full-batch L-BFGS with the
gradient written out by hand (X^T is kept as a second CSR matrix, so it is one more sparse
product). C is chosen on dev from ``c_grid``, each fit starting from the previous one's weights;
dev accuracy levels off within ``max_iter`` iterations. With two classes C is halved, so that the
model is scikit-learn's binary one at its C (see ``fit_baseline``). No random state: the same data
give the same model (the sample taken beyond ``max_train_chars`` is seeded).

Beside it, on the same features and grid, a second single-label model whose columns are scaled
by their naive-Bayes log-count ratio (``nb_weights``; NB-LR, after Wang & Manning's NBSVM, 2012):
how much more often a feature occurs in one class's texts than in the others'. Why: the L2 penalty
then costs less for a feature that already separates the classes, which is what a linear model on
Chinese character n-grams lacks most (docs/benchmarks.md has the figures on Chinese reviews); it is a
candidate of its own and the blend's partner where it blends better (``candidates.py``), while
the plain model stays the yardstick scikit-learn's is compared with. The scale folds into the weights
(``weight[j] * r[j]``), so the served model is the same ``LinearModel`` with no extra file.

Multi-label data get one logistic regression per label (one-vs-rest), fitted together: the same
L-BFGS on the summed binary cross-entropies, C chosen on dev micro-F1, and each label's threshold
then chosen on dev as the RNN's are (``best_thresholds``), so the two are scored alike.

Once a job has chosen what to publish (``candidates.py``), a published linear model is fitted again
on train and dev together at the C dev chose (``refit``), as scikit-learn's ``GridSearchCV`` refits its
best setting on all the data it searched: the evaluation set chose C and the blend's weight, and then
adds its examples to the served model. Its dev figures are the ones measured before, on the model
fitted on train alone; ``TrainConfig.refit`` turns it off.

``benchmarks/baseline_sst2.py`` (SST-2, and a 10-class set with ``--ten-classes``) and
``benchmarks/baseline_zh.py`` (Chinese) measure its accuracy and time beside scikit-learn's on the
same features and grid.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..config import MULTI_LABEL
from ..data import Dataset, check_training_data
from ..inference.linear import LinearModel
from ..inference.scoring import best_thresholds, logits_report, multi_label_logits_report, multi_label_report
from ..text.tfidf import HashedTfidf
from .setup import targets
from .sparse_linear import SoftmaxRegression, log_count_ratios, scale_columns, scale_rows, transpose


@dataclass
class BaselineConfig:
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (1, 3)
    buckets: int = 1 << 20  # hash columns per kind of n-gram (only those seen in training are kept)
    c_grid: tuple[float, ...] = (1.0, 4.0, 16.0)  # inverse L2 strength, tried in this order
    max_iter: int = 30  # L-BFGS iterations per C (warm-started along the grid, dev accuracy has levelled off)
    # Memory grows with the text (the peak is ``tfidf``'s, per character of text): beyond this many
    # characters of training text, a seeded random sample of that size is used (SST-2's train split fits).
    max_train_chars: int | None = 4_000_000
    nb_weights: bool = True  # single-label: also fit the model on log-count-ratio scaled features (``nb``)

    def validate(self) -> BaselineConfig:
        HashedTfidf(self.word_ngrams, self.char_ngrams, self.buckets)  # raises on bad n-gram ranges or buckets
        if not self.c_grid or min(self.c_grid) <= 0:
            raise ValueError(f"c_grid must hold one or more positive values; got {self.c_grid}")
        if self.max_train_chars is not None and self.max_train_chars < 1:
            raise ValueError(
                f"max_train_chars must be a positive number of characters or None; got {self.max_train_chars}"
            )
        return self


@dataclass
class BaselineResult:
    metrics: dict  # logits_report on dev, as the RNN's
    seconds: float  # wall time of features and fits, grid included
    c: float  # the C that scored best on dev
    grid: dict[float, float] = field(default_factory=dict)  # C -> dev accuracy (multi-label: dev micro-F1)
    features: int = 0  # hash columns seen in training
    train_examples: int = 0  # fewer than the split's when it had more than max_train_chars of text
    linear: LinearModel | None = None  # the fitted model at the chosen C (what a baseline bundle serves)
    reused: bool = False  # read from a ``BaselineStore`` (``seconds`` is then the original fit's)
    labels: list[str] = field(default_factory=list)  # label names in the order of the linear model's columns
    nb: BaselineResult | None = None  # the log-count-ratio scaled model on the same features (``nb_weights``)

    def to_dict(self) -> dict:
        score = "micro_f1" if self.metrics.get("task") == MULTI_LABEL else "accuracy"
        return {
            "metrics": self.metrics,
            "seconds": round(self.seconds, 2),
            "c": self.c,
            "grid": [{"c": c, score: a} for c, a in self.grid.items()],
            "features": self.features,
            "train_examples": self.train_examples,
            "reused": self.reused,
            "labels": self.labels,
            **({"nb": self.nb.to_dict()} if self.nb is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict, linear: LinearModel | None = None, reused: bool = False,
                  nb_linear: LinearModel | None = None) -> BaselineResult:
        """``to_dict``'s inverse (the grid's C values as floats again), for a stored baseline."""
        grid = {float(g["c"]): next(v for k, v in g.items() if k != "c") for g in data["grid"]}
        nb = cls.from_dict(data["nb"], nb_linear, reused) if "nb" in data else None
        return cls(data["metrics"], data["seconds"], float(data["c"]), grid, data["features"],
                   data["train_examples"], linear, reused, list(data["labels"]), nb)


def fit_baseline(
    train_data: Dataset,
    dev_data: Dataset,
    label_names: dict[str, str] | None = None,
    config: BaselineConfig | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> BaselineResult:
    """Fit on ``train_data``, pick C and report metrics on ``dev_data`` (labels named as the RNN's).
    ``should_stop`` is asked at every L-BFGS evaluation, as ``train()`` asks it at every step: True
    raises ``TrainingCancelled``. ``progress``, if given, is called once the features are built and
    after each C with ``{"stage": "baseline", "step": i, "steps": n}`` (``n`` is one more than the grid's
    length, or than twice its length with ``nb_weights``: the plain grid, then the scaled one), plus
    ``"c"`` and its dev ``"score"`` after a fit, so a job can say what it is doing."""
    cfg = (config or BaselineConfig()).validate()
    t0 = time.perf_counter()
    labels_raw = check_training_data(train_data, dev_data)
    names = [(label_names or {}).get(raw, raw) for raw in labels_raw]
    index = {raw: i for i, raw in enumerate(labels_raw)}
    train_data, vectorizer, x_train, x_train_t, y_train = _train_features(train_data, index, cfg)
    x_dev, y_dev = vectorizer.transform(dev_data.texts), targets(dev_data, index)  # (multi-label: rows of 0/1)
    multi_label = train_data.task == MULTI_LABEL
    nb = cfg.nb_weights and not multi_label
    steps = 1 + len(cfg.c_grid) * (2 if nb else 1)
    if progress is not None:
        progress({"stage": "baseline", "step": 1, "steps": steps, "features": x_train.shape[1]})
    fit = functools.partial(_fit_grid, y_train=y_train, y_dev=y_dev, names=names, cfg=cfg, steps=steps,
                            should_stop=should_stop, progress=progress)
    c, grid, logits, weight, bias = fit(x_train, x_train_t, x_dev, first_step=2)
    linear = LinearModel(vectorizer, weight.numpy(), bias.numpy())
    result = BaselineResult(_report(logits, y_dev, names, multi_label), 0.0, c, grid, x_train.shape[1],
                            len(train_data), linear, labels=names)
    if nb:
        r = log_count_ratios(x_train, y_train, len(names))
        c, grid, logits, weight, bias = fit(scale_columns(x_train, r), scale_rows(x_train_t, r),
                                            scale_columns(x_dev, r), first_step=2 + len(cfg.c_grid))
        nb_linear = LinearModel(vectorizer, (weight * r[:, None]).numpy(), bias.numpy())  # the scale folded in
        result.nb = BaselineResult(_report(logits, y_dev, names, multi_label), 0.0, c, grid, x_train.shape[1],
                                   len(train_data), nb_linear, labels=names)
    result.seconds = time.perf_counter() - t0
    if result.nb is not None:
        result.nb.seconds = result.seconds
    return result


def refit(
    train_data: Dataset,
    dev_data: Dataset,
    c: float,
    nb: bool,
    config: BaselineConfig | None = None,
) -> LinearModel:
    """The single-label model ``fit_baseline`` chose at ``c`` (the ``nb`` one: columns scaled by their
    log-count ratios), fitted again on ``train_data`` and ``dev_data`` together: features, ratios and
    weights from all of them, the fits warm-started along ``c_grid`` up to ``c`` as ``fit_baseline``'s
    were. Columns in the order of ``fit_baseline``'s ``labels``."""
    cfg = (config or BaselineConfig()).validate()
    labels_raw = check_training_data(train_data, dev_data)
    both = Dataset(train_data.texts + dev_data.texts, train_data.labels + dev_data.labels)
    _, vectorizer, x, x_t, y = _train_features(both, {raw: i for i, raw in enumerate(labels_raw)}, cfg)
    scale = None
    if nb:
        scale = log_count_ratios(x, y, len(labels_raw))
        x, x_t = scale_columns(x, scale), scale_rows(x_t, scale)
    model = SoftmaxRegression(x.shape[1], len(labels_raw))
    path = cfg.c_grid[: cfg.c_grid.index(c) + 1] if c in cfg.c_grid else (c,)
    for step_c in path:
        model.fit(x, y, _ours(step_c, False, len(labels_raw)), cfg.max_iter, x_t)
    weight = model.weight if scale is None else model.weight * scale[:, None]
    return LinearModel(vectorizer, weight.numpy(), model.bias.numpy())


def _train_features(data: Dataset, index: dict[str, int], cfg: BaselineConfig):
    """What a fit learns from, the same for ``fit_baseline`` and ``refit``: ``data`` within the character
    budget, the vectorizer fitted on it, its feature rows, their transpose (L-BFGS's gradients) and the
    targets (``index``: raw label -> column)."""
    data = _within_budget(data, cfg.max_train_chars)
    vectorizer = HashedTfidf(cfg.word_ngrams, cfg.char_ngrams, cfg.buckets)
    x = vectorizer.fit_transform(data.texts)
    return data, vectorizer, x, transpose(x), targets(data, index)


def _fit_grid(x_train, x_train_t, x_dev, *, y_train, y_dev, names, cfg: BaselineConfig, steps: int, first_step: int,
              should_stop, progress):
    """Fit along ``cfg.c_grid`` (each fit warm-started from the previous one), scoring each C on dev:
    (the best C, the grid, its dev logits, weight, bias)."""
    multi_label = y_train.dim() == 2
    model = SoftmaxRegression(x_train.shape[1], len(names))
    grid, best = {}, None
    for step, c in enumerate(cfg.c_grid, start=first_step):
        model.fit(x_train, y_train, _ours(c, multi_label, len(names)), cfg.max_iter, x_train_t, should_stop)
        logits = model.logits(x_dev)
        if multi_label:
            grid[c] = multi_label_report((logits > 0).numpy(), y_dev.numpy(), names, [0.5] * len(names))["micro_f1"]
        else:
            grid[c] = (logits.argmax(1) == y_dev).double().mean().item()
        if best is None or grid[c] > grid[best[0]]:  # a tie keeps the stronger penalty, tried first
            best = (c, logits, model.weight.clone(), model.bias.clone())
        if progress is not None:
            progress({"stage": "baseline", "step": step, "steps": steps, "c": c, "score": grid[c]})
    return best[0], grid, best[1], best[2], best[3]


def _ours(c: float, multi_label: bool, n_labels: int) -> float:
    """scikit-learn's C as ``SoftmaxRegression.fit`` takes it. Two classes: scikit-learn fits one weight
    vector w (logit difference), we fit two, w1 = -w0 = w / 2 at the optimum, so our penalty
    |w0|^2 + |w1|^2 is half of its |w|^2: C / 2 here is the same model as its C."""
    return c * 0.5 if not multi_label and n_labels == 2 else c


def _report(logits: torch.Tensor, y_dev: torch.Tensor, names: list[str], multi_label: bool) -> dict:
    if multi_label:
        thresholds = best_thresholds(torch.sigmoid(logits).numpy(), y_dev.bool().numpy())
        return multi_label_logits_report(logits.float(), y_dev, names, thresholds)
    return logits_report(logits.float(), y_dev, names)


def _within_budget(data: Dataset, max_chars: int | None) -> Dataset:
    """``data``, or a seeded random sample of its examples with at most ``max_chars`` characters of text."""
    if max_chars is None or sum(map(len, data.texts)) <= max_chars:
        return data
    order = list(range(len(data)))
    random.Random(0).shuffle(order)
    keep, total = [], 0
    for i in order:
        total += len(data.texts[i])
        if total > max_chars:
            break
        keep.append(i)
    return data.subset(sorted(keep))
