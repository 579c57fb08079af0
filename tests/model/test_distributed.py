"""Training on several processes: ``torchrun`` with DistributedDataParallel over gloo, on the CPU.

Two launches of two processes each (a few seconds apart): the CLI as a user starts it, and a
script that calls ``train()`` on each rank to compare what the ranks did.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from model import ModelConfig, TokenizerConfig, TrainConfig, load_bundle, train
from model.inference.predictor import Predictor
from model.network import embeddings
from model.training.distributed import World

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--embedding-dim", "8", "--hidden-size", "8", "--batch-size", "16", "--learning-rate", "0.01", "--seed", "1",
        "--threads", "1", "--device", "cpu", "--quiet"]


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, make_examples) -> Path:
    path = tmp_path_factory.mktemp("ddp")
    for name, n, seed in (("train.tsv", 300, 1), ("dev.tsv", 100, 2)):
        texts, labels = make_examples(n, seed)
        (path / name).write_text("label\tsentence\n" + "".join(f"{y}\t{t}\n" for t, y in zip(texts, labels)))
    return path


def test_torchrun_trains_one_bundle_on_two_processes(workdir):
    proc = torchrun("-m", "model", "train", "--train", "train.tsv", "--dev", "dev.tsv", "--out", "bundle",
                    "--epochs", "2", "--patience", "2", "--tokenizer", "wordpiece", "--pretrained", "minilm",
                    "--freeze-embeddings", "--keep", "rnn", *TINY, cwd=workdir)  # the RNN both ranks trained
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)  # one line: only rank 0 prints
    assert summary["n"] == 100 and summary["out"] == "bundle"
    bundle = load_bundle(workdir / "bundle")
    assert bundle.training["world_size"] == 2
    # 300 examples make 19 batches of 16; each rank takes 9 of them (one dropped) per epoch.
    assert bundle.training["steps"] == 2 * 9
    assert bundle.training["trainable_parameters"] < bundle.training["parameters"]  # frozen embeddings
    assert bundle.training["data"]["pretrained_source"] == embeddings.minilm().name
    assert "torchrun --nnodes=1 --nproc_per_node=2 -m model train" in (workdir / "bundle" / "README.md").read_text()
    predictions = Predictor(bundle).predict(["w1 good w2", "w3 not good"])
    assert [p.label for p in predictions] and all(0.5 <= p.score <= 1 for p in predictions)


RANK_SCRIPT = """
    import hashlib, json, sys
    import torch.distributed as dist
    from model import ModelConfig, TokenizerConfig, TrainConfig, TrainingCancelled, load_dataset, train

    dist.init_process_group("gloo")  # train() joins a group that the caller made, and keeps it
    rank = dist.get_rank()
    data, dev = load_dataset("train.tsv"), load_dataset("dev.tsv")
    arch, tok = ModelConfig(embedding_dim=8, hidden_size=8, dropout=0.2, pooling="attention"), TokenizerConfig(tokenizer="word")
    def cfg(**kw):
        return TrainConfig(**{"pretrained": None, "batch_size": 16, "learning_rate": 0.01, "seed": 1, "device": "cpu", **kw})
    out, calls, reports = {}, [], []
    def should_stop():  # only rank 1 asks to stop, before its third step
        calls.append(1)
        return rank == 1 and len(calls) == 3
    for key, run in {
        "cancelled": lambda: train(data, dev, arch, tok, cfg(), should_stop=should_stop),
        "too_few_batches": lambda: train(data, dev, arch, tok, cfg(batch_size=300)),
        "mismatch": lambda: train(data if rank == 0 else dev, dev, arch, tok, cfg()),
    }.items():
        try:
            run()
        except (TrainingCancelled, ValueError) as exc:
            out[key] = f"{type(exc).__name__}: {exc}"
    r = train(data, dev, arch, tok, cfg(epochs=3, patience=1), progress=reports.append)
    state = hashlib.sha256(b"".join(v.numpy().tobytes() for v in r.model.state_dict().values())).hexdigest()
    out.update(state=state, steps=r.steps, best_epoch=r.best_epoch, epochs=len(r.history), rank=r.rank,
               world_size=r.world_size, reports=len(reports), group_kept=dist.is_initialized())
    json.dump(out, open(f"rank{rank}.json", "w"))
    dist.destroy_process_group()
"""


def test_ranks_train_identical_replicas_and_agree_on_every_decision(workdir):
    (workdir / "ranks.py").write_text(textwrap.dedent(RANK_SCRIPT))
    proc = torchrun("ranks.py", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    first, second = (json.loads((workdir / f"rank{r}.json").read_text()) for r in (0, 1))
    # A cancel request on one rank stops both at the same step, so neither waits for the other.
    assert first["cancelled"] == second["cancelled"] == "TrainingCancelled: cancelled at epoch 1, step 2"
    assert "fewer batches than the 2 processes" in first["too_few_batches"] == second["too_few_batches"]
    assert "rank 1 has different data or settings from rank 0 (train data)" in first["mismatch"]
    assert first["mismatch"] == second["mismatch"]
    # DDP averaged the gradients: both replicas end with the same weights, after the same steps.
    assert first["state"] == second["state"]
    for key in ("steps", "best_epoch", "epochs", "world_size"):
        assert first[key] == second[key], key
    assert first["world_size"] == 2 and first["steps"] == first["epochs"] * 9
    assert (first["rank"], second["rank"]) == (0, 1)
    assert first["reports"] > 0 and second["reports"] == 0  # progress comes from rank 0 only
    assert first["group_kept"] and second["group_kept"]


def test_each_rank_gets_an_equal_disjoint_share_of_the_batches():
    batches = list(range(7))
    shares = [World(rank, 2, active=True).shard(batches) for rank in (0, 1)]
    assert shares == [[0, 2, 4], [1, 3, 5]]
    assert World().shard(batches) is batches


DEVICES = [
    pytest.param("cpu", id="cpu-gloo"),
    pytest.param("cuda", id="cuda-nccl", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


@pytest.mark.parametrize("device", DEVICES)
def test_ddp_in_a_world_of_one_matches_plain_training(task_data, device):
    """The DDP path (wrap, shard, votes, broadcasts) changes nothing when there is one rank."""
    arch, tok = ModelConfig(embedding_dim=8, hidden_size=8, dropout=0.0), TokenizerConfig(tokenizer="word", max_length=64)
    cfg = TrainConfig(pretrained=None, epochs=2, batch_size=16, learning_rate=0.01, seed=1, device=device)
    plain = train(*task_data, arch, tok, cfg, should_stop=lambda: False)
    backend = "nccl" if device == "cuda" else "gloo"
    dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    try:
        ddp = train(*task_data, arch, tok, cfg, should_stop=lambda: False)
    finally:
        dist.destroy_process_group()
    assert ddp.world_size == 1 and ddp.steps == plain.steps
    exact = {"rtol": 0, "atol": 0} if device == "cpu" else {}  # cuDNN's RNN backward may vary in the last bits
    for key, value in plain.model.state_dict().items():
        torch.testing.assert_close(ddp.model.state_dict()[key], value, **exact, msg=key)


@pytest.fixture(scope="module")
def task_data(make_dataset):
    return make_dataset(300, 1), make_dataset(100, 2)
