"""A faster, inference-only forward pass for a trained ``SentimentRNN`` on the CPU.

Two things make a packed ``nn.LSTM`` slow at serving time on a CPU, and this module removes both:

- **Input projections are looked up, not multiplied.** At inference the embedding table is fixed,
  so the first layer's input-to-hidden product ``W_ih @ embedding[token] + b`` takes one value
  per vocabulary entry. It is computed once, when the model is loaded, as a table
  ``[vocab, directions x gates x hidden]``; a batch then reads its rows instead of multiplying.
  When the embeddings are wider than the state, this is most of the arithmetic (``4H x E`` of
  ``4H x (E + H)`` multiply-adds per token and direction), for a table of ``vocab x 8H`` floats.
  Tables larger than ``max_table_bytes`` are not built; that layer multiplies as deeper layers
  do (one matrix product for all its tokens).
- **Both directions run in one loop with little bookkeeping.** Sequences are sorted by length,
  so the ones still running at step ``t`` are a prefix of the batch; tokens are laid out step
  by step (packed order) and every per-step view is cut before the loop. The backward direction
  reads each sequence from its end, so forward and backward share one batched matrix product
  (``baddbmm_``, in place) and five element-wise operations per LSTM step.

At the batch sizes the service forms this gives more sentences/s than the packed ``nn.LSTM``
(``benchmarks/serve_load.py --model-speed`` measures both).

The result equals ``SentimentRNN.forward`` in evaluation mode (to float rounding; the tests hold
it to 1e-5 for every cell, direction, layer count and pooling), so accuracy is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..network.rnn import SentimentRNN

MAX_TABLE_BYTES = 256 * 1024 * 1024


class FastRNN(nn.Module):
    """``FastRNN(model)(ids, lengths)`` gives ``model(ids, lengths)``'s logits, faster (eval only)."""

    def __init__(self, model: SentimentRNN, max_table_bytes: int = MAX_TABLE_BYTES):
        super().__init__()
        config = model.config
        self.config = config
        self.cell = config.cell
        self.hidden = config.hidden_size
        self.directions = 2 if config.bidirectional else 1
        self.relu = config.cell == "rnn" and config.nonlinearity == "relu"
        self.model = model  # pooling and classifier layers are used as they are
        self.layers: list[dict[str, torch.Tensor]] = []
        with torch.no_grad():
            for layer in range(config.layers):
                self.layers.append(self._layer_weights(model.rnn, layer))
            first = self.layers[0]
            table_bytes = config.vocab_size * first["w_ih"].shape[0] * 4
            self.table = None
            if table_bytes <= max_table_bytes:
                weight = model.embedding.weight.detach().float()
                self.table = torch.addmm(first["b_ih"], weight, first["w_ih"].t())  # [vocab, D * G * H]

    def _layer_weights(self, rnn: nn.RNNBase, layer: int) -> dict[str, torch.Tensor]:
        """One layer's weights, directions stacked, rearranged for the loop in ``_run_layer``."""
        h = self.hidden
        suffixes = [f"_l{layer}", f"_l{layer}_reverse"][: self.directions]
        w_ih = torch.stack([getattr(rnn, f"weight_ih{s}").detach().float() for s in suffixes])  # [D, GH, in]
        w_hh = torch.stack([getattr(rnn, f"weight_hh{s}").detach().float() for s in suffixes])  # [D, GH, H]
        b_ih = torch.stack([getattr(rnn, f"bias_ih{s}").detach().float() for s in suffixes])  # [D, GH]
        b_hh = torch.stack([getattr(rnn, f"bias_hh{s}").detach().float() for s in suffixes])
        if self.cell == "gru":
            # r and z take both biases; the candidate's hidden bias sits inside r * (W_hn h + b_hn).
            b_in = b_ih.clone()
            b_in[:, : 2 * h] += b_hh[:, : 2 * h]
            b_rec = torch.zeros_like(b_hh)
            b_rec[:, 2 * h :] = b_hh[:, 2 * h :]
        else:
            b_in, b_rec = b_ih + b_hh, None
        if self.cell == "lstm":
            # tanh(x) = 2 * sigmoid(2x) - 1: doubling the cell-candidate rows lets one sigmoid
            # cover all four gates.
            for t in (w_ih, w_hh, b_in):
                t[:, 2 * h : 3 * h] *= 2
        return {
            # input projection for all directions at once: [D * G * H, in] and [D * G * H]
            "w_ih": w_ih.reshape(-1, w_ih.shape[-1]).contiguous(),
            "b_ih": b_in.reshape(-1).contiguous(),
            "w_hh_t": w_hh.transpose(1, 2).contiguous(),  # [D, H, GH] for baddbmm
            "b_hh": b_rec.unsqueeze(1).contiguous() if b_rec is not None else None,  # [D, 1, GH]
        }

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        lengths = lengths.cpu().long()
        order = torch.argsort(lengths, descending=True, stable=True)
        sorted_lengths = lengths[order]
        steps, batch, directions = int(sorted_lengths[0]), ids.shape[0], self.directions
        ids = ids[order, :steps].t()  # [T, B], longest sequence first
        # The tokens each step reads, step by step ("packed" order): at step t the sequences still
        # running are the first active[t] of the batch. The backward direction reads each sequence
        # from its end: at step t, position length - 1 - t.
        valid = torch.arange(steps).unsqueeze(1) < sorted_lengths.unsqueeze(0)  # [T, B]
        active = valid.sum(dim=1).tolist()
        step_pos, seq = valid.nonzero(as_tuple=True)  # [N] each, step-major
        positions = [step_pos, sorted_lengths[seq] - 1 - step_pos][:directions]  # per direction

        x = None
        for index, weights in enumerate(self.layers):
            if index == 0 and self.table is not None:
                rows = torch.stack([ids[pos, seq] * directions + d for d, pos in enumerate(positions)])
                # embedding() is index_select: faster than tensor[rows] for this gather
                projected = F.embedding(rows, self.table.view(-1, self.table.shape[1] // directions))  # [D, N, GH]
            else:
                source = self.model.embedding(ids).float() if index == 0 else x
                inputs = torch.stack([source[pos, seq] for pos in positions])  # [D, N, in]
                projected = torch.baddbmm(
                    weights["b_ih"].view(directions, 1, -1),
                    inputs,
                    weights["w_ih"].view(directions, -1, inputs.shape[-1]).transpose(1, 2),
                )
            out = self._run_layer(projected, weights, active)  # [D, N, H]
            padded = out.new_zeros(steps * batch, directions, self.hidden)
            for d, pos in enumerate(positions):
                padded[:, d].index_copy_(0, pos * batch + seq, out[d])
            x = padded.view(steps, batch, -1)  # [T, B, D * H], zeros in padding positions

        outputs = x.transpose(0, 1)  # [B, T, D * H]
        last_forward = outputs[torch.arange(batch), sorted_lengths - 1, : self.hidden]
        last = last_forward if directions == 1 else torch.cat([last_forward, outputs[:, 0, self.hidden :]], 1)
        logits = self.model.head(outputs, last, sorted_lengths)
        return logits[torch.argsort(order)]

    def _run_layer(self, projected: torch.Tensor, weights: dict, active: list[int]) -> torch.Tensor:
        """The recurrence over ``projected`` [D, N, G*H] in packed order; hidden states [D, N, H].

        ``projected`` is overwritten (it becomes the gates). Every per-step view is cut before
        the loop, by one ``split`` per tensor, so the loop body is only the arithmetic: for an
        LSTM step, seven tensor operations and no allocation but ``tanh``'s.
        """
        directions, total, _ = projected.shape
        h_size, cell = self.hidden, self.cell
        w_hh_t, b_hh = weights["w_hh_t"], weights["b_hh"]
        out = projected.new_empty(directions, total, h_size) if cell != "rnn" else projected
        outs = out.split(active, dim=1)
        steps = projected.split(active, dim=1)
        h = projected.new_zeros(directions, active[0], h_size)
        if cell == "lstm":
            c = projected.new_zeros(directions, active[0], h_size)
            quarters = [part.split(active, dim=1) for part in projected.chunk(4, dim=2)]
            for t, (gates, into, i, f, g, o) in enumerate(zip(steps, outs, *quarters)):
                width = active[t]
                if width != c.shape[1]:
                    c = c[:, :width]
                    h = h[:, :width]
                gates.baddbmm_(h, w_hh_t).sigmoid_()
                c.mul_(f).addcmul_(i, g, value=2.0).sub_(i)  # f * c + i * tanh(g)
                torch.tanh(c, out=into).mul_(o)
                h = into
        elif cell == "gru":
            rz_parts = [
                part.split(active, dim=1) for part in (projected[..., : 2 * h_size], projected[..., 2 * h_size :])
            ]
            for t, (into, x_rz, x_n) in enumerate(zip(outs, *rz_parts)):
                width = active[t]
                if width != h.shape[1]:
                    h = h[:, :width]
                recurrent = torch.baddbmm(b_hh, h, w_hh_t)
                r, z = x_rz.add_(recurrent[..., : 2 * h_size]).sigmoid_().chunk(2, 2)
                n = x_n.addcmul_(r, recurrent[..., 2 * h_size :]).tanh_()
                torch.addcmul(n, z, h - n, out=into)  # (1 - z) * n + z * h
                h = into
        else:  # one gate: the projections become the hidden states in place
            activation = torch.relu_ if self.relu else torch.tanh_
            for t, pre in enumerate(steps):
                width = active[t]
                if width != h.shape[1]:
                    h = h[:, :width]
                h = activation(pre.baddbmm_(h, w_hh_t))
            return projected
        return out
