"""The model card: a README in the bundle folder, written from the training result."""

from __future__ import annotations

from .loop import TrainResult


def render_card(result: TrainResult, command: str, notes: str = "") -> str:
    m, cfg, tok = result.model_config, result.train_config, result.tokenizer_config
    meta = result.training_metadata()
    lines = [
        "# Sentiment RNN model card",
        "",
        "## Architecture",
        f"- {'bidirectional ' if m.bidirectional else ''}{m.cell.upper()}"
        + (f" ({m.nonlinearity})" if m.cell == "rnn" else "")
        + f", {m.layers} layer(s), hidden {m.hidden_size}, {m.pooling} pooling",
        f"- embeddings: {m.vocab_size} tokens x {m.embedding_dim}"
        + (" (frozen)" if m.freeze_embeddings else "")
        + _pretrained(result.data),
        f"- tokenizer: {tok.tokenizer}, lowercase={tok.lowercase}, max_length={tok.max_length}",
        *(
            [
                f"- warm start from {result.base['source']} (weights sha256 {result.base['weights_sha256']}); "
                f"output layer {result.base['output_layer']}"
            ]
            if result.base
            else []
        ),
        f"- labels: {', '.join(m.labels)}; parameters: {meta['parameters']:,} "
        f"({meta['trainable_parameters']:,} trainable); temperature {m.temperature:.3f}",
        "",
        "## Data",
        f"- train: {result.data['train_examples']} examples, sha256 {result.data['train_sha256']}",
        f"- dev: {result.data['dev_examples']} examples ({result.data['dev_source']}), sha256 {result.data['dev_sha256']}",
        "",
        "## Dev metrics (kept epoch)",
        f"- accuracy {result.metrics['accuracy']:.4f}, macro-F1 {result.metrics['macro_f1']:.4f}, "
        f"best epoch {result.best_epoch}",
        f"- expected calibration error {result.calibration['ece_before']:.4f} before, "
        f"{result.calibration['ece_after']:.4f} after temperature scaling",
        f"- confusion matrix (rows = truth, columns = prediction, order {m.labels}): {result.metrics['confusion_matrix']}",
        "",
        "| epoch | train loss | dev loss | dev acc | seconds | tokens/s |",
        "|---|---|---|---|---|---|",
    ]
    for h in result.history:
        lines.append(
            f"| {h['epoch']} | {h['train_loss']:.4f} | {h['dev_loss']:.4f} | {h['dev_accuracy']:.4f} "
            f"| {h['seconds']} | {h['tokens_per_s']:.0f} |"
        )
    lines += [
        "",
        f"Training time: {result.elapsed_s:.0f} s ({cfg.epochs} epochs max, batch {cfg.batch_size}, "
        f"lr {cfg.learning_rate}{'' if cfg.lr_schedule == 'constant' else f' ({cfg.lr_schedule} decay to 0)'}, "
        f"weight decay {cfg.weight_decay}, dropout {m.dropout}, seed {cfg.seed}).",
        "",
        "## Reproduce",
        "```",
        command,
        "```",
    ]
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def _pretrained(data: dict) -> str:
    name, source = data.get("pretrained"), data.get("pretrained_source")
    if not name:
        return ""
    return f", initialised from {name}" + (f" ({source})" if source and source != name else "")
