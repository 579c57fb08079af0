"""The model card: a README in the bundle folder, written from the training result."""

from __future__ import annotations

from ..config import MULTI_LABEL
from .loop import TrainResult


def render_card(result: TrainResult, command: str, notes: str = "") -> str:
    m, cfg, tok = result.model_config, result.train_config, result.tokenizer_config
    meta = result.training_metadata()
    lines = [
        f"# Model card: {'bidirectional ' if m.bidirectional else ''}{m.cell.upper()} text classifier, "
        f"{len(m.labels)} labels ({'multi-label' if m.task == MULTI_LABEL else 'single-label'})",
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
        f"({meta['trainable_parameters']:,} trainable); "
        + ("multi-label (a sigmoid per label)" if m.task == MULTI_LABEL else f"temperature {m.temperature:.3f}"),
        "",
        "## Data",
        f"- train: {result.data['train_examples']} examples, sha256 {result.data['train_sha256']}",
        f"- dev: {result.data['dev_examples']} examples ({result.data['dev_source']}), sha256 {result.data['dev_sha256']}",
        "",
        "## Dev metrics (kept epoch)",
        *(_multi_label_metrics(result) if m.task == MULTI_LABEL else _single_label_metrics(result)),
        "",
        f"| epoch | train loss | dev loss | dev {'micro-F1 (thresholds 0.5)' if m.task == MULTI_LABEL else 'acc'} "
        "| seconds | tokens/s |",
        "|---|---|---|---|---|---|",
    ]
    score = "dev_micro_f1" if m.task == MULTI_LABEL else "dev_accuracy"
    for h in result.history:
        lines.append(
            f"| {h['epoch']} | {h['train_loss']:.4f} | {h['dev_loss']:.4f} | {h[score]:.4f} "
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


def _single_label_metrics(result: TrainResult) -> list[str]:
    metrics, calibration = result.metrics, result.calibration
    return [
        f"- accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, best epoch {result.best_epoch}",
        f"- expected calibration error {calibration['ece_before']:.4f} before, "
        f"{calibration['ece_after']:.4f} after temperature scaling",
        f"- confusion matrix (rows = truth, columns = prediction, order {result.model_config.labels}): "
        f"{metrics['confusion_matrix']}",
    ]


def _multi_label_metrics(result: TrainResult) -> list[str]:
    metrics = result.metrics
    lines = [
        f"- micro-F1 {metrics['micro_f1']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, subset accuracy "
        f"{metrics['subset_accuracy']:.4f}, best epoch {result.best_epoch}",
        f"- no temperature calibration: {result.calibration['skipped']}",
        "",
        "| label | threshold | precision | recall | F1 | support |",
        "|---|---|---|---|---|---|",
    ]
    for label, m in metrics["per_label"].items():
        lines.append(
            f"| {label} | {m['threshold']:.2f} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} "
            f"| {m['support']} |"
        )
    return lines


def _pretrained(data: dict) -> str:
    name, source = data.get("pretrained"), data.get("pretrained_source")
    if not name:
        return ""
    return f", initialised from {name}" + (f" ({source})" if source and source != name else "")
