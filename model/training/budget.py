"""What a training run will hold in memory, estimated from its configs and its data before it
starts: a server refuses a job it cannot hold instead of finding out by dying."""

from __future__ import annotations

from ..config import AUTO, ModelConfig, TokenizerConfig, TrainConfig

WORDPIECE_VOCAB = 30_522  # MiniLM's WordPiece vocabulary (tokenizer 'wordpiece', and 'auto' on Latin text)
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def parameters(model: ModelConfig, vocab_size: int, labels: int) -> int:
    """The network's parameters: embedding, recurrent layers, pooling and classifier."""
    directions = 2 if model.bidirectional else 1
    gates, hidden = GATES[model.cell], model.hidden_size
    count = vocab_size * model.embedding_dim
    for layer in range(model.layers):
        inputs = model.embedding_dim if layer == 0 else hidden * directions
        count += directions * gates * hidden * (inputs + hidden + 2)
    features = hidden * directions
    return count + (features + 1 if model.pooling == "attention" else 0) + (features + 1) * labels


def training_bytes(model: ModelConfig, tokenizer: TokenizerConfig, train: TrainConfig, labels: int) -> int:
    """An upper estimate of a run's memory: float32 weights with their gradients and AdamW's two
    moments (16 bytes a parameter), and a batch's activations through time (each step's gates and
    states, per layer and direction, kept for backpropagation)."""
    vocab = WORDPIECE_VOCAB if tokenizer.tokenizer in ("wordpiece", AUTO) else tokenizer.max_vocab_size
    vocab = max(vocab, WORDPIECE_VOCAB) if tokenizer.tokenizer == AUTO else vocab
    directions = 2 if model.bidirectional else 1
    steps = train.batch_size * tokenizer.max_length
    activations = steps * (model.embedding_dim + model.layers * directions * model.hidden_size
                           * (GATES[model.cell] + 2)) * 4 * 2
    return parameters(model, vocab, labels) * 16 + activations
