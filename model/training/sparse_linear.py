"""Linear models on CSR feature matrices, for the baseline (``baseline.py``): a softmax regression
fitted by full-batch L-BFGS with its gradient written out (torch's sparse products, no SciPy), and
the naive-Bayes log-count ratio that scales the columns of the baseline's twin. Apart from
``baseline.py`` so that each stays one concern; ``baseline_store`` hashes both into its key."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from ..text.tfidf import csr
from .loop import TrainingCancelled


def log_count_ratios(x: torch.Tensor, y: torch.Tensor, n_classes: int, alpha: float = 1.0) -> torch.Tensor:
    """Each column's naive-Bayes log-count ratio, the largest over the classes (one against the rest):
    ``|log((p_c / |p_c|_1) / (q_c / |q_c|_1))|`` with ``p_c`` the number of class-c training texts that
    have the feature plus ``alpha``, ``q_c`` the same over the other classes. With two classes both
    classes' ratios are the one ratio of NBSVM, up to its sign; its sign does not matter to an
    L2-penalised linear model (the weight takes it), so one non-negative scale serves any number of classes."""
    crow, cols = x.crow_indices().numpy(), x.col_indices().numpy()
    rows = np.repeat(np.arange(x.shape[0]), np.diff(crow))
    present = x.values().numpy() != 0  # (signed hashing: a feature is present when its entry is not zero)
    labels = y.numpy()[rows[present]]
    counts = np.zeros((n_classes, x.shape[1]))
    np.add.at(counts, (labels, cols[present]), 1.0)
    p = counts + alpha
    q = counts.sum(0) - counts + alpha
    ratio = np.log(p / p.sum(1, keepdims=True)) - np.log(q / q.sum(1, keepdims=True))
    return torch.from_numpy(np.abs(ratio).max(0).astype(np.float32))


def scale_columns(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    values = x.values() * scale[x.col_indices().long()]
    return csr(x.crow_indices().numpy(), x.col_indices().numpy(), values.numpy(), tuple(x.shape))


def scale_rows(x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    crow = x.crow_indices().numpy()
    values = x.values() * torch.from_numpy(np.repeat(scale.numpy(), np.diff(crow)))
    return csr(crow, x.col_indices().numpy(), values.numpy(), tuple(x.shape))


def transpose(x: torch.Tensor) -> torch.Tensor:
    """X^T as CSR (the gradient is then one more CSR product)."""
    crow, cols, values = x.crow_indices().numpy(), x.col_indices().numpy(), x.values().numpy()
    rows = np.repeat(np.arange(x.shape[0], dtype=np.int32), np.diff(crow))
    order = np.argsort(cols, kind="stable")
    t_crow = np.zeros(x.shape[1] + 1, dtype=np.int64)
    np.cumsum(np.bincount(cols, minlength=x.shape[1]), out=t_crow[1:])
    return csr(t_crow, rows[order], values[order], (x.shape[1], x.shape[0]))


class SoftmaxRegression:
    """Multinomial logistic regression on a CSR matrix, fitted by full-batch L-BFGS; given rows of 0/1
    targets instead of class indices, one binary logistic regression per column (one-vs-rest)."""

    def __init__(self, n_features: int, n_classes: int):
        self.weight = torch.zeros(n_features, n_classes)
        self.bias = torch.zeros(n_classes)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sparse.mm(x, self.weight) + self.bias

    def fit(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        c: float,
        max_iter: int,
        x_t: torch.Tensor | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> None:
        """Minimise mean cross-entropy + |W|^2 / (2 C n): sklearn's C * sum(CE) + |W|^2 / 2, scaled.
        Starts from the current weights (a warm start along the C grid); ``x_t`` is X^T, if at hand."""
        n = x.shape[0]
        x_t = transpose(x) if x_t is None else x_t
        multi_label = y.dim() == 2
        onehot = y.float() if multi_label else torch.nn.functional.one_hot(y, self.weight.shape[1]).float()
        weight, bias = self.weight.clone().requires_grad_(), self.bias.clone().requires_grad_()
        optimizer = torch.optim.LBFGS(
            [weight, bias],
            lr=1,
            max_iter=max_iter,
            history_size=10,
            tolerance_grad=1e-6,
            tolerance_change=1e-10,
            line_search_fn="strong_wolfe",
        )

        def closure():
            if should_stop is not None and should_stop():
                raise TrainingCancelled("stopped while fitting the baseline")
            with torch.no_grad():
                logits = torch.sparse.mm(x, weight) + bias
                if multi_label:  # binary cross-entropy per label: -y log p - (1 - y) log(1 - p)
                    fit = -(onehot * F.logsigmoid(logits) + (1 - onehot) * F.logsigmoid(-logits))
                    p = torch.sigmoid(logits)
                else:
                    log_p = torch.log_softmax(logits, dim=1)
                    fit, p = -(log_p * onehot), log_p.exp()
                # summed in float64: the line search compares losses that differ in their 7th digit
                # (vector_norm accumulates in float64 on the CPU too, and is 100x faster than pow().sum())
                penalty = torch.linalg.vector_norm(weight).double() ** 2
                loss = fit.sum(dtype=torch.float64) / n + penalty / (2 * c * n)
                residual = (p - onehot) / n
                weight.grad = torch.sparse.mm(x_t, residual) + weight / (c * n)
                bias.grad = residual.sum(0)
            return loss

        optimizer.step(closure)
        self.weight, self.bias = weight.detach(), bias.detach()
