"""The recurrent classifier: embedding -> RNN/LSTM/GRU over packed sequences -> pooling -> linear."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..config import ModelConfig


class SentimentRNN(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_id)
        self.embedding.weight.requires_grad_(not config.freeze_embeddings)
        rnn_cls = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[config.cell]
        extra = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        self.rnn = rnn_cls(
            config.embedding_dim,
            config.hidden_size,
            num_layers=config.layers,
            bidirectional=config.bidirectional,
            dropout=config.dropout if config.layers > 1 else 0.0,
            batch_first=True,
            **extra,
        )
        out_dim = config.hidden_size * (2 if config.bidirectional else 1)
        self.attention = nn.Linear(out_dim, 1) if config.pooling == "attention" else None
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(out_dim, config.num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, 0.0, 1.0)
        with torch.no_grad():
            self.embedding.weight[self.config.pad_id].zero_()
        gates = {"rnn": 1, "lstm": 4, "gru": 3}[self.config.cell]
        h = self.config.hidden_size
        for name, param in self.rnn.named_parameters():
            if name.startswith("weight_hh"):
                # Orthogonal recurrent weights, gate by gate, keep gradients from exploding or
                # vanishing early in training (Saxe et al. 2014).
                for g in range(gates):
                    nn.init.orthogonal_(param.data[g * h : (g + 1) * h])
            elif name.startswith("weight_ih"):
                nn.init.xavier_uniform_(param.data)
            elif name.startswith("bias"):
                param.data.zero_()
                if self.config.cell == "lstm" and name.startswith("bias_ih"):
                    param.data[h : 2 * h] = 1.0  # forget-gate bias 1: remember by default
        nn.init.xavier_uniform_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def load_embeddings(self, vectors: torch.Tensor) -> None:
        if vectors.shape != self.embedding.weight.shape:
            raise ValueError(
                f"pretrained vectors have shape {tuple(vectors.shape)}; "
                f"the embedding needs {tuple(self.embedding.weight.shape)}"
            )
        with torch.no_grad():
            self.embedding.weight.copy_(vectors)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``ids``: [batch, time] padded token ids; ``lengths``: [batch] true lengths (>= 1).

        Returns unnormalised logits [batch, classes]. Padding never reaches the RNN (packed
        sequences) nor the pooling (masked), so it never changes a prediction.
        """
        embedded = self.dropout(self.embedding(ids))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_outputs, hidden = self.rnn(packed)
        h_n = hidden[0] if isinstance(hidden, tuple) else hidden  # LSTM: (h_n, c_n)
        last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.config.bidirectional else h_n[-1]
        outputs = None
        if self.config.pooling != "last":
            outputs, _ = pad_packed_sequence(packed_outputs, batch_first=True, total_length=ids.shape[1])
        return self.head(outputs, last, lengths)

    def head(self, outputs: torch.Tensor | None, last: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Pooling and classifier: ``outputs`` [batch, time, features] (zeros past each length;
        unused by ``last`` pooling), ``last`` [batch, features] the final states -> logits."""
        return self.classifier(self.dropout(self._pool(outputs, last, lengths)))

    def _pool(self, outputs, last: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        pooling = self.config.pooling
        if pooling == "last":
            return last
        total = outputs.shape[1]
        mask = torch.arange(total, device=outputs.device)[None, :] < lengths.to(outputs.device)[:, None]
        if pooling == "mean":
            summed = (outputs * mask.unsqueeze(-1)).sum(dim=1)
            return summed / lengths.to(outputs.device).unsqueeze(-1).to(outputs.dtype)
        if pooling == "max":
            return outputs.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(dim=1).values
        scores = self.attention(outputs).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        return (outputs * weights).sum(dim=1)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
