"""GPU check: the cuDNN RNN path agrees with the CPU path, and how fast training runs on CUDA.

    python benchmarks/gpu_check.py [--data-dir DIR] [--epochs 3]

1. For every cell, direction and pooling: logits of a padded batch on CUDA (cuDNN kernels for
   packed sequences) match the CPU logits, and padding still never changes a prediction.
2. A tiny synthetic task trains on CUDA with ``device="cuda"``.
3. With SST-2 at ``--data-dir`` (train.tsv, dev.tsv): per-epoch time, training tokens/s and dev
   accuracy on CUDA for a word-level BiLSTM (no pretrained vectors, so nothing to install), and
   prediction sentences/s of the CPU predictor for comparison.
Exits non-zero if a check fails; prints one JSON summary line at the end.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from model import Dataset, ModelConfig, TokenizerConfig, TrainConfig, load_dataset, train  # noqa: E402
from model.inference.batches import pad_batch  # noqa: E402
from model.network.rnn import SentimentRNN  # noqa: E402


def check_cudnn_matches_cpu(tf32: bool) -> tuple[list[str], float]:
    """Compare CUDA with CPU logits; with TF32 off the tolerance is float32's, with it on we only
    report the largest difference (cuDNN RNNs use TF32 tensor cores by default on Ampere and later)."""
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    failures, worst = [], 0.0
    torch.manual_seed(0)
    seqs = [[random.randrange(2, 500) for _ in range(n)] for n in (3, 17, 1, 40, 9, 25)]
    ids, lengths = pad_batch(seqs, 0)
    for cell in ("rnn", "lstm", "gru"):
        for bidirectional in (True, False):
            for pooling in ("last", "mean", "max", "attention"):
                cfg = ModelConfig(
                    labels=["a", "b", "c"],
                    vocab_size=500,
                    cell=cell,
                    bidirectional=bidirectional,
                    pooling=pooling,
                    layers=2,
                    embedding_dim=32,
                    hidden_size=48,
                    dropout=0.0,
                )
                net = SentimentRNN(cfg).eval()
                with torch.no_grad():
                    cpu = net(ids, lengths)
                    gpu_net = net.cuda()
                    gpu = gpu_net(ids.cuda(), lengths).cpu()
                    alone = torch.cat([gpu_net(torch.tensor([s]).cuda(), torch.tensor([len(s)])).cpu() for s in seqs])
                name = f"{cell}/{'bi' if bidirectional else 'uni'}/{pooling}"
                worst = max(worst, (cpu - gpu).abs().max().item(), (alone - gpu).abs().max().item())
                if tf32:
                    continue
                if not torch.allclose(cpu, gpu, atol=1e-4, rtol=1e-4):
                    failures.append(f"{name}: CUDA != CPU (max diff {(cpu - gpu).abs().max():.2e})")
                if not torch.allclose(alone, gpu, atol=1e-4, rtol=1e-4):
                    failures.append(f"{name}: padding changed CUDA logits (max diff {(alone - gpu).abs().max():.2e})")
    torch.backends.cudnn.allow_tf32 = True
    return failures, worst


def synthetic(n: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        good = rng.random() < 0.5
        words = [f"w{rng.randrange(20)}" for _ in range(rng.randint(2, 8))]
        words.insert(rng.randint(0, len(words)), "good" if good else "bad")
        texts.append(" ".join(words))
        labels.append("pos" if good else "neg")
    return Dataset(texts, labels)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "sst2")
    parser.add_argument("--epochs", type=int, default=3, help="SST-2 training epochs; 0 skips the benchmark")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("CUDA is not available here; nothing to check")
        return 2
    summary = {
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
    }
    print(f"device {summary['device']}, torch {summary['torch']}, cuDNN {summary['cudnn']}")
    failures, worst = check_cudnn_matches_cpu(tf32=False)
    print(
        f"cuDNN (TF32 off) vs CPU and padded vs alone, 24 configurations: "
        f"{'OK' if not failures else failures}; largest difference {worst:.1e}"
    )
    _, worst_tf32 = check_cudnn_matches_cpu(tf32=True)
    summary["max_diff_fp32"], summary["max_diff_tf32"] = worst, worst_tf32
    print(
        f"with TF32 on (PyTorch's cuDNN default) the largest difference is {worst_tf32:.1e}: "
        "fine for predictions, which is why the float32 check above turns it off"
    )
    result = train(
        synthetic(600, 1),
        synthetic(200, 2),
        ModelConfig(embedding_dim=16, hidden_size=16, pooling="max"),
        TokenizerConfig(tokenizer="word"),
        TrainConfig(pretrained=None, epochs=4, device="cuda", seed=1),
    )
    summary["synthetic_dev_accuracy"] = result.metrics["accuracy"]
    print(f"synthetic task on CUDA: dev accuracy {result.metrics['accuracy']:.3f}")
    if result.metrics["accuracy"] < 0.9:
        failures.append("synthetic task did not learn on CUDA")
    train_file, dev_file = args.data_dir / "train.tsv", args.data_dir / "dev.tsv"
    if args.epochs and train_file.exists():
        train_data, dev_data = load_dataset(train_file), load_dataset(dev_file)
        for batch_size in (64, 256):
            t0 = time.perf_counter()
            r = train(
                train_data,
                dev_data,
                ModelConfig(
                    embedding_dim=128,
                    hidden_size=128,
                    pooling="attention",
                    label_names={"0": "negative", "1": "positive"},
                ),
                TokenizerConfig(tokenizer="word"),
                TrainConfig(
                    pretrained=None,
                    epochs=args.epochs,
                    patience=args.epochs,
                    device="cuda",
                    batch_size=batch_size,
                    learning_rate=2e-3 * batch_size / 64,
                ),
            )
            wall = time.perf_counter() - t0
            key = f"sst2_cuda_batch{batch_size}"
            summary[key] = {
                "dev_accuracy": r.metrics["accuracy"],
                "seconds_per_epoch": [h["seconds"] for h in r.history],
                "tokens_per_s": r.history[-1]["tokens_per_s"],
                "wall_s": round(wall, 1),
            }
            print(
                f"SST-2 word BiLSTM on CUDA, batch {batch_size}: dev {r.metrics['accuracy']:.4f}, "
                f"epochs {summary[key]['seconds_per_epoch']} s, {summary[key]['tokens_per_s']:.0f} tokens/s"
            )
    else:
        print(f"no SST-2 data at {args.data_dir}; skipped the training benchmark")
    summary["failures"] = failures
    print(json.dumps(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
