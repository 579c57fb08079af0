"""A torch-free forward pass for a trained ``SentimentRNN``: NumPy and ``safetensors.numpy`` only.

``NumpyRNN.load(bundle)`` reads a bundle's ``config.json`` and ``model.safetensors`` without torch,
and ``logits(seqs)`` gives what ``SentimentRNN.forward`` gives in evaluation mode (to float
rounding; the tests hold every cell, direction, layer count and pooling to 1e-5). It follows
``model/fast_rnn.py``'s plan, with NumPy's far smaller cost per call:

- The first layer's input projection is a table ``[vocab, directions x gates x hidden]`` read per
  token (built at load time when it is at most ``MAX_TABLE_BYTES``; otherwise the embeddings are
  gathered and multiplied, as deeper layers multiply the previous layer's outputs).
- Sequences are sorted by length, so those still running at step ``t`` are a prefix of the batch,
  laid out step by step ("packed" order); the backward direction reads each sequence from its end,
  so both directions share one ``np.matmul`` per step, ``[D, B, H] @ [G, D, H, H]``, whose result
  is gate-major (``[G, D, B, H]``): every element-wise operation that follows runs over contiguous
  memory, in place (``out=``), in buffers allocated once per call.
- Sigmoids are tanh: the rows of the gates that take a sigmoid are halved once, at load time, so
  that one ``tanh`` over all gates gives ``tanh(x / 2)`` there, and ``0.5 * t + 0.5`` is the sigmoid.
  LSTM gates are stored in the order i, f, o, g, so the sigmoid gates are one slice.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain
from pathlib import Path

import numpy as np

from .bundle import WEIGHTS_FILE, BundleError, _configs, check_files, read_config
from .config import ModelConfig

MAX_TABLE_BYTES = 256 * 1024 * 1024
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
# Constants as 0-d float32 arrays: a ufunc takes them faster than Python floats (no conversion per call).
HALF, ZERO = np.array(0.5, dtype=np.float32), np.array(0.0, dtype=np.float32)


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of a ``SentimentRNN`` state dict and its shape."""
    h, gh, directions = config.hidden_size, GATES[config.cell] * config.hidden_size, 1 + config.bidirectional
    shapes = {"embedding.weight": (config.vocab_size, config.embedding_dim)}
    for layer in range(config.layers):
        width = config.embedding_dim if layer == 0 else directions * h
        for suffix in [f"_l{layer}", f"_l{layer}_reverse"][:directions]:
            shapes[f"rnn.weight_ih{suffix}"] = (gh, width)
            shapes[f"rnn.weight_hh{suffix}"] = (gh, h)
            shapes[f"rnn.bias_ih{suffix}"] = (gh,)
            shapes[f"rnn.bias_hh{suffix}"] = (gh,)
    if config.pooling == "attention":
        shapes["attention.weight"], shapes["attention.bias"] = (1, directions * h), (1,)
    shapes["classifier.weight"], shapes["classifier.bias"] = (config.num_classes, directions * h), (config.num_classes,)
    return shapes


class NumpyRNN:
    """``NumpyRNN.load(bundle).logits(seqs)``: ``SentimentRNN``'s evaluation-mode logits, without torch."""

    def __init__(self, config: ModelConfig, state: dict[str, np.ndarray], max_table_bytes: int = MAX_TABLE_BYTES):
        """Use ``from_state`` or ``load``: ``state`` here is already checked and float32."""
        self.config = config
        self.cell, self.hidden = config.cell, config.hidden_size
        self.directions = 2 if config.bidirectional else 1
        self.relu = config.cell == "rnn" and config.nonlinearity == "relu"
        self.embedding = state["embedding.weight"]
        self.layers = [self._layer_weights(state, layer) for layer in range(config.layers)]
        self.attention = None
        if config.pooling == "attention":
            self.attention = (np.ascontiguousarray(state["attention.weight"][0]), float(state["attention.bias"][0]))
        self.classifier_t = np.ascontiguousarray(state["classifier.weight"].T)  # [features, classes]
        self.classifier_b = state["classifier.bias"]
        first = self.layers[0]
        self.table = None  # [vocab * D, G * H]: row id * D + d is direction d's projection of token id
        if config.vocab_size * first["w_ih_t"].shape[1] * 4 <= max_table_bytes:
            table = self.embedding @ first["w_ih_t"]
            table += first["b_ih"]
            self.table = table.reshape(config.vocab_size * self.directions, -1)
            self.embedding = None  # the table replaces it

    @classmethod
    def from_state(
        cls, config: ModelConfig, state: dict[str, np.ndarray], *, source: str = "state", **kwargs
    ) -> NumpyRNN:
        """From a ``SentimentRNN`` state dict of arrays (float16 is widened); a missing, unexpected
        or misshapen tensor is a ``BundleError`` naming ``source`` and the key."""
        config.validate()
        shapes = expected_shapes(config)
        for key, shape in shapes.items():
            if key not in state:
                raise BundleError(f"{source}: missing tensor {key!r} (expected shape {list(shape)})")
            if tuple(state[key].shape) != shape:
                raise BundleError(
                    f"{source}: tensor {key!r} has shape {list(state[key].shape)}; config.json needs {list(shape)}"
                )
        unexpected = sorted(set(state) - set(shapes))
        if unexpected:
            raise BundleError(f"{source}: unexpected tensor(s) {', '.join(map(repr, unexpected))}")
        return cls(config, {k: np.asarray(state[k], dtype=np.float32) for k in shapes}, **kwargs)

    @classmethod
    def load(cls, path: str | Path, verify: bool = True, **kwargs) -> NumpyRNN:
        """A bundle's network (``config.json`` and ``model.safetensors``; checksums verified)."""
        from safetensors.numpy import load_file

        path = Path(path)
        config = read_config(path)
        check_files(path, config, verify)
        model_config, _ = _configs(path, config)
        try:
            state = load_file(str(path / WEIGHTS_FILE))
        except FileNotFoundError:
            raise BundleError(f"{path}: missing {WEIGHTS_FILE}") from None
        except Exception as exc:  # safetensors raises SafetensorError / OSError on corrupt files
            raise BundleError(f"{path / WEIGHTS_FILE}: cannot read weights ({exc})") from None
        return cls.from_state(model_config, state, source=str(path / WEIGHTS_FILE), **kwargs)

    def _layer_weights(self, state: dict[str, np.ndarray], layer: int) -> dict[str, np.ndarray]:
        """One layer's weights, directions stacked, rearranged and prescaled for ``_recurrence``."""
        h, d, gates = self.hidden, self.directions, GATES[self.cell]
        suffixes = [f"_l{layer}", f"_l{layer}_reverse"][:d]
        w_ih = np.stack([state[f"rnn.weight_ih{s}"] for s in suffixes])  # [D, GH, in]
        w_hh = np.stack([state[f"rnn.weight_hh{s}"] for s in suffixes])  # [D, GH, H]
        b_ih = np.stack([state[f"rnn.bias_ih{s}"] for s in suffixes])  # [D, GH]
        b_hh = np.stack([state[f"rnn.bias_hh{s}"] for s in suffixes])
        b_hn = None
        if self.cell == "lstm":
            order = np.r_[0 : 2 * h, 3 * h : 4 * h, 2 * h : 3 * h]  # i, f, g, o -> i, f, o, g
            w_ih, w_hh, b_in = w_ih[:, order], w_hh[:, order], (b_ih + b_hh)[:, order]
            sigmoid_rows = slice(0, 3 * h)
        elif self.cell == "gru":
            # r and z take both biases; the candidate's hidden bias sits inside r * (W_hn h + b_hn).
            b_in = b_ih.copy()
            b_in[:, : 2 * h] += b_hh[:, : 2 * h]
            b_hn = np.ascontiguousarray(b_hh[:, None, 2 * h :])  # [D, 1, H]
            sigmoid_rows = slice(0, 2 * h)
        else:
            b_in, sigmoid_rows = b_ih + b_hh, slice(0, 0)
        for array in (w_ih, w_hh, b_in):  # sigmoid(x) = 0.5 * tanh(x / 2) + 0.5: halve x once, here
            array[:, sigmoid_rows] *= 0.5
        return {
            "w_ih_t": np.ascontiguousarray(w_ih.transpose(2, 0, 1).reshape(w_ih.shape[2], -1)),  # [in, D * GH]
            "b_ih": np.ascontiguousarray(b_in.reshape(-1)),  # [D * GH]
            # [G, D, H, H]: h [D, B, H] @ w_hh gives the gates gate-major, [G, D, B, H]
            "w_hh": np.ascontiguousarray(w_hh.reshape(d, gates, h, h).transpose(1, 0, 3, 2)),
            "b_hn": b_hn,
        }

    def logits(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """float32 ``[len(seqs), classes]`` unnormalised logits, in input order (each seq non-empty)."""
        features = self.features(seqs)
        logits = features @ self.classifier_t
        logits += self.classifier_b
        return logits

    def features(self, seqs: Sequence[Sequence[int]]) -> np.ndarray:
        """float32 ``[len(seqs), directions x hidden]``: the pooled vectors the classifier reads."""
        if len(seqs) == 0:
            return np.empty((0, self.directions * self.hidden), dtype=np.float32)
        layout = PackedLayout(seqs)
        x, out = None, None  # x [N, D * H]: a layer's outputs, in the forward direction's packed order
        for index, weights in enumerate(self.layers):
            projected = self._project(index, weights, layout.ids, x, layout.reversed)
            out = self._recurrence(projected, weights, layout.active, layout.offsets_list)
            if self.directions == 1:
                x = out[0]
            else:
                x = np.empty((len(layout.ids), 2 * self.hidden), dtype=np.float32)
                x[:, : self.hidden] = out[0]
                np.take(out[1], layout.reversed, axis=0, out=x[:, self.hidden :])
        pooled = self._pool(x, out, layout)
        if layout.order is None:
            return pooled
        result = np.empty_like(pooled)
        result[layout.order] = pooled
        return result

    def _project(self, index: int, weights: dict, ids: np.ndarray, x: np.ndarray | None, reversed_) -> np.ndarray:
        """The layer's input projections (biases included), ``[G, D, N, H]``: gate-major, packed order."""
        d, n = self.directions, len(ids)
        if index == 0 and self.table is not None:
            rows = ids * d if d == 1 else np.stack([ids * d, ids[reversed_] * d + 1])
            per_direction = np.take(self.table, rows.reshape(d, n), axis=0)  # [D, N, GH]
        else:
            source = np.take(self.embedding, ids, axis=0) if index == 0 else x
            projected = source @ weights["w_ih_t"]  # [N, D * GH]
            projected += weights["b_ih"]
            per_direction = projected.reshape(n, d, -1).transpose(1, 0, 2)
            if d == 2:
                per_direction = np.stack([per_direction[0], per_direction[1, reversed_]])
        return np.ascontiguousarray(per_direction.reshape(d, n, -1, self.hidden).transpose(2, 0, 1, 3))

    def _recurrence(self, projected: np.ndarray, weights: dict, active: list[int], offsets: list[int]) -> np.ndarray:
        """The recurrence over ``projected`` [G, D, N, H]; hidden states [D, N, H] in packed order.

        Every buffer a step writes is contiguous and gate-major, so each element-wise operation is
        one pass over contiguous memory; the views of them are cut again only when the number of
        running sequences changes, not at every step.
        """
        gates, d, total, h_size = projected.shape
        w_hh, b_hn = weights["w_hh"], weights["b_hn"]
        matmul, add, multiply, tanh = np.matmul, np.add, np.multiply, np.tanh
        scratch = np.empty(gates * d * active[0] * h_size, dtype=np.float32)
        if self.cell == "rnn":  # one gate: the projections become the hidden states in place
            out, w_hh = projected[0], w_hh[0]
            h = np.zeros((d, active[0], h_size), dtype=np.float32)
            width = 0
            for step_width, start in zip(active, offsets):
                if step_width != width:
                    width = step_width
                    rec = scratch[: d * width * h_size].reshape(d, width, h_size)
                    h = h[:, :width]
                step = out[:, start : start + width]
                matmul(h, w_hh, rec)
                add(step, rec, step)
                if self.relu:
                    np.maximum(step, ZERO, out=step)
                else:
                    tanh(step, step)
                h = step
            return out
        out = np.empty((d, total, h_size), dtype=np.float32)
        h = np.zeros((d, active[0], h_size), dtype=np.float32)
        state = np.zeros((d, active[0], h_size), dtype=np.float32)  # the LSTM's cell
        width = 0
        if self.cell == "lstm":
            for step_width, start in zip(active, offsets):
                if step_width != width:
                    width = step_width
                    rec = scratch[: gates * d * width * h_size].reshape(gates, d, width, h_size)
                    sig, (i, f, o, g) = rec[:3], rec  # i, f, o: sigmoids; g: tanh
                    state, h = np.ascontiguousarray(state[:, :width]), h[:, :width]
                matmul(h, w_hh, rec)
                add(rec, projected[:, :, start : start + width], rec)
                tanh(rec, rec)
                multiply(sig, HALF, sig)
                add(sig, HALF, sig)
                multiply(state, f, state)
                multiply(i, g, i)
                add(state, i, state)
                h = out[:, start : start + width]
                tanh(state, h)
                multiply(h, o, h)
            return out
        for step_width, start in zip(active, offsets):  # GRU
            if step_width != width:
                width = step_width
                rec = scratch[: gates * d * width * h_size].reshape(gates, d, width, h_size)
                rz, (r, z, n) = rec[:2], rec
                h = h[:, :width]
            matmul(h, w_hh, rec)
            step = projected[:, :, start : start + width]
            add(rz, step[:2], rz)
            tanh(rz, rz)
            multiply(rz, HALF, rz)
            add(rz, HALF, rz)
            add(n, b_hn, n)
            multiply(n, r, n)
            add(n, step[2], n)
            tanh(n, n)
            into = out[:, start : start + width]
            np.subtract(h, n, into)
            multiply(into, z, into)
            add(into, n, into)  # (1 - z) * n + z * h
            h = into
        return out

    def _pool(self, x: np.ndarray, out: np.ndarray, layout: PackedLayout) -> np.ndarray:
        """``[B, D * H]`` pooled vectors, in sorted order, as ``SentimentRNN._pool``."""
        pooling, lengths = self.config.pooling, layout.lengths
        if pooling == "last":
            # both directions end at their final step: packed entry (length - 1, b) for each
            final = layout.offsets[lengths - 1] + np.arange(len(lengths))
            return np.concatenate(list(out[:, final]), axis=1)
        valid = layout.valid  # [T, B], or None when every sequence has T tokens: x is then [T, B, D * H]
        if pooling == "attention":
            weight, bias = self.attention
            if valid is None:
                scores = (x @ weight).reshape(len(layout.active), len(lengths))
            else:
                scores = np.full(valid.shape, -np.inf, dtype=np.float32)
                scores[valid] = x @ weight
            scores += bias
            scores -= scores.max(axis=0)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=0)
            x = x * (scores.reshape(-1, 1) if valid is None else scores[valid][:, None])
        if valid is None:
            padded = x.reshape(len(layout.active), len(lengths), -1)
        else:
            padded = np.full((*valid.shape, x.shape[1]), -np.inf if pooling == "max" else 0.0, dtype=np.float32)
            padded[valid] = x
        if pooling == "max":
            return padded.max(axis=0)
        summed = padded.sum(axis=0)
        if pooling == "mean":
            summed /= lengths[:, None].astype(np.float32)
        return summed


class PackedLayout:
    """Where each token of a batch goes in the recurrence: sorted by length, step by step.

    Sequences are sorted longest first (``order``: None when already so), so the ones running at
    step ``t`` are the first ``active[t]``; packed entry ``offsets[t] + b`` is token ``t`` of
    sorted sequence ``b`` (``ids``) for the forward direction. The backward direction reads
    sequence ``b`` from its end: at its entry ``k`` the token of forward entry ``reversed[k]``.
    ``valid`` [T, B] marks the entries that exist (None when every sequence has T tokens).
    """

    def __init__(self, seqs: Sequence[Sequence[int]]):
        n = len(seqs)
        if n == 1:  # one sequence: nothing to sort or mask
            self.ids = np.array(seqs[0], dtype=np.intp)
            steps = len(self.ids)
            if steps == 0:
                raise ValueError("every sequence needs at least one token id")
            self.order, self.valid, self.lengths = None, None, np.array([steps])
            self.active, self.offsets = [1] * steps, np.arange(steps)
            self.reversed = self.offsets[::-1]
            self.offsets_list = self.offsets.tolist()
            return
        lengths = np.fromiter(map(len, seqs), dtype=np.intp, count=n)
        if lengths.min() < 1:
            raise ValueError("every sequence needs at least one token id")
        tokens = np.fromiter(chain.from_iterable(seqs), dtype=np.intp, count=int(lengths.sum()))
        order = np.argsort(-lengths, kind="stable")
        starts = (np.cumsum(lengths) - lengths)[order]  # where each sorted sequence's tokens begin
        self.order = None if (order[1:] > order[:-1]).all() else order
        self.lengths = lengths = lengths[order]
        steps = int(lengths[0])
        valid = np.arange(steps)[:, None] < lengths[None, :]  # [T, B]
        active = valid.sum(axis=1)
        self.offsets = np.zeros(steps, dtype=np.intp)
        np.cumsum(active[:-1], out=self.offsets[1:])
        step_pos, seq = np.nonzero(valid)  # step-major
        self.reversed = self.offsets[lengths[seq] - 1 - step_pos] + seq
        self.ids = tokens[starts[seq] + step_pos]
        self.active, self.offsets_list = active.tolist(), self.offsets.tolist()
        self.valid = None if lengths[-1] == steps else valid
