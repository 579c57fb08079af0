"""Inference backends side by side: sentences/s of the bundled model's network by batch size.

    python benchmarks/backends.py                     # the bundled model, batches of 1, 16 and 64
    python benchmarks/backends.py --model-dir DIR --seconds 0.3 --rounds 7

Three backends compute the same logits from the same token ids, each on one thread:

- ``torch``: ``FastRNN`` (``model/inference/fast_rnn.py``), as ``Predictor`` runs it (``batched_logits`` under
  ``torch.inference_mode``: padding, the module, the logits);
- ``numpy``: ``NumpyRNN`` (``model/inference/numpy_rnn.py``), no torch;
- ``onnxruntime``: the network exported here with ``torch.onnx.export`` as a padded-batch module
  (packed sequences do not export: each direction of each layer runs over padded ids, the backward
  one over every sequence reversed within its length), run by an ``InferenceSession`` of one
  thread. Skipped, saying why, when ``onnxruntime`` (or ``onnx``, which the export needs) is missing.

Texts are ones the run has not seen (``unseen.py``); they are tokenised once, before any timing, and
every backend gets the same batches of ids. The backends take turns in short rounds at each batch
size and the medians are printed, so that all see the same background load. The largest logit
difference from ``torch`` on the first 512 texts is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy or torch loads
    os.environ[_name] = "1"

import numpy as np  # noqa: E402
import torch  # noqa: E402
from unseen import unseen_texts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model import Predictor  # noqa: E402
from model.inference.batches import batched_logits  # noqa: E402
from model.inference.numpy_rnn import NumpyRNN  # noqa: E402
from model.network.rnn import SentimentRNN  # noqa: E402

BUNDLED = ROOT / "model" / "bundled" / "sentiment-en"
BATCH_SIZES = (1, 16, 64)
Backend = Callable[[list[list[int]]], np.ndarray]


class PaddedRNN(torch.nn.Module):
    """``SentimentRNN``'s logits over padded ids without packed sequences, for ``torch.onnx.export``.

    Each direction of each layer is a one-layer module with the trained weights; the backward one
    reads every sequence reversed within its length (padding stays at the end, after the tokens),
    so no state ever sees padding before a token, and its outputs are put back in place.
    """

    def __init__(self, model: SentimentRNN):
        super().__init__()
        config = model.config
        self.model, self.hidden = model, config.hidden_size
        self.bidirectional = config.bidirectional
        extra = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        suffixes = ["", "_reverse"] if config.bidirectional else [""]
        self.runs = torch.nn.ModuleList()
        for layer in range(config.layers):
            for suffix in suffixes:
                width = config.embedding_dim if layer == 0 else config.hidden_size * len(suffixes)
                run = type(model.rnn)(width, config.hidden_size, batch_first=True, **extra)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(run, f"{name}_l0").data.copy_(getattr(model.rnn, f"{name}_l{layer}{suffix}").data)
                self.runs.append(run)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        steps = torch.arange(ids.shape[1]).unsqueeze(0)
        mask = steps < lengths.unsqueeze(1)  # [B, T]
        reverse = torch.where(mask, lengths.unsqueeze(1) - 1 - steps, steps)  # position read at each step
        x = self.model.embedding(ids)
        directions = 2 if self.bidirectional else 1
        for layer in range(len(self.runs) // directions):
            outs = [self.runs[layer * directions](x)[0]]
            if self.bidirectional:
                index = reverse.unsqueeze(2).expand(-1, -1, x.shape[2])
                backward = self.runs[layer * directions + 1](torch.gather(x, 1, index))[0]
                outs.append(torch.gather(backward, 1, reverse.unsqueeze(2).expand(-1, -1, self.hidden)))
            x = torch.cat(outs, dim=2) if self.bidirectional else outs[0]
        outputs = x * mask.unsqueeze(2).to(x.dtype)
        final = (lengths - 1).view(-1, 1, 1).expand(-1, 1, self.hidden)
        last = torch.gather(outputs[:, :, : self.hidden], 1, final).squeeze(1)
        if self.bidirectional:
            last = torch.cat([last, outputs[:, 0, self.hidden :]], dim=1)
        return self.model.head(outputs, last, lengths)


def pad(seqs: list[list[int]], pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, seqs), dtype=np.int64, count=len(seqs))
    ids = np.full((len(seqs), int(lengths.max())), pad_id, dtype=np.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
    return ids, lengths


def onnx_backend(model: SentimentRNN, folder: Path) -> tuple[Backend | None, str]:
    """An ``onnxruntime`` session of the exported padded network, or None and why not."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export needs it)
        import onnxruntime as ort
    except ImportError as exc:
        return None, f"skipped: {exc} (pip install onnxruntime onnx)"
    path = folder / "model.onnx"
    example = (torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([3, 2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            PaddedRNN(model).eval(),
            example,
            str(path),
            dynamo=False,  # the TorchScript exporter: no onnxscript needed
            input_names=["ids", "lengths"],
            output_names=["logits"],
            dynamic_axes={"ids": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch"}},
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    pad_id = model.config.pad_id

    def run(seqs: list[list[int]]) -> np.ndarray:
        ids, lengths = pad(seqs, pad_id)
        return session.run(None, {"ids": ids, "lengths": lengths})[0]

    return run, f"onnxruntime {ort.__version__}, exported with torch.onnx.export (padded batches)"


def blas_description() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        np.show_config()
        return "see np.show_config() above"
    found = [
        f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture') or '?'} kernels, "
        f"{i.get('num_threads')} thread(s), {Path(i.get('filepath', '')).name})"
        for i in threadpool_info()
        if i.get("user_api") == "blas" and "numpy" in i.get("filepath", "")
    ]
    return "; ".join(found) or "; ".join(str(i) for i in threadpool_info() if i.get("user_api") == "blas")


def git_commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return head.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def measure(backends: dict[str, Backend], batches: list[list[list[int]]], seconds: float, rounds: int) -> dict:
    """Sentences/s of each backend over ``batches`` (cycled), in alternating rounds: the medians."""
    rates: dict[str, list[float]] = {name: [] for name in backends}
    position = 0
    for _ in range(rounds):
        for name, backend in backends.items():
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                batch = batches[position % len(batches)]
                backend(batch)
                position += 1
                done += len(batch)
            rates[name].append(done / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model-dir", type=Path, default=BUNDLED, help="the bundle (default: the bundled model)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=list(BATCH_SIZES))
    p.add_argument("--seconds", type=float, default=0.5, help="seconds per round, backend and batch size")
    p.add_argument("--rounds", type=int, default=5, help="rounds per batch size (the median is printed)")
    p.add_argument("--texts", type=int, default=8000, help="distinct texts to tokenise")
    p.add_argument("--no-onnx", action="store_true", help="leave ONNX Runtime out")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    predictor = Predictor.load(args.model_dir)
    pad_id = predictor.bundle.config.pad_id
    fast = predictor.runtime_model()

    def torch_backend(seqs: list[list[int]]) -> np.ndarray:
        with torch.inference_mode():
            return batched_logits(fast, seqs, predictor.batch_size, pad_id).numpy()

    started = time.perf_counter()
    network = NumpyRNN.load(args.model_dir)
    numpy_load = time.perf_counter() - started
    backends: dict[str, Backend] = {"torch FastRNN": torch_backend, "NumpyRNN": network.logits}
    with tempfile.TemporaryDirectory() as folder:
        onnx_run, onnx_note = (
            (None, "left out (--no-onnx)") if args.no_onnx else onnx_backend(predictor.bundle.model, Path(folder))
        )
        if onnx_run is not None:
            backends["onnxruntime"] = onnx_run

        texts, source = unseen_texts(args.texts)
        seqs = [s for s in predictor.encode(texts) if len(s) <= predictor.bundle.tokenizer.max_length]
        check = seqs[:512]
        expected = torch_backend(check)
        differences = {name: float(np.abs(b(check) - expected).max()) for name, b in backends.items()}

        files = json.loads((args.model_dir / "config.json").read_text())["files"]
        print(f"model: {args.model_dir} (model.safetensors sha256 {files['model.safetensors']})")
        print(f"commit: {git_commit()}")
        print(f"texts: {len(seqs)} from {source}; {np.mean([len(s) for s in seqs]):.1f} tokens on average")
        print(
            f"CPU: {cpu_name()}; 1 thread per backend; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}"
        )
        print(f"numpy {np.__version__}, BLAS: {blas_description()}")
        print(f"torch {torch.__version__}; ONNX: {onnx_note}")
        print(f"NumpyRNN.load: {numpy_load:.2f} s (input-projection table built: {network.table is not None})")
        print(f"rounds: {args.rounds} x {args.seconds:g} s per backend and batch size, taking turns; medians")
        print()
        names = list(backends)
        print(f"{'batch':>5}  " + "  ".join(f"{name:>15}" for name in names) + "   (sentences/s)  numpy/torch")
        for batch_size in args.batch_sizes:
            batches = [seqs[i : i + batch_size] for i in range(0, len(seqs) - batch_size + 1, batch_size)]
            rates = measure(backends, batches, args.seconds, args.rounds)
            ratio = rates["NumpyRNN"] / rates["torch FastRNN"]
            print(f"{batch_size:>5}  " + "  ".join(f"{rates[n]:>15,.0f}" for n in names) + f"   {'':>13}  {ratio:.2f}x")
        print(f"{'max |logit - torch|':>20}: " + ", ".join(f"{n} {d:.2e}" for n, d in differences.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
