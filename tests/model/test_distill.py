"""Distillation (``model/distill``): augmentation, the logits cache, the student's soft-target loss,
the teacher and the resumable pipeline, on a tiny teacher built here (a 2-layer BERT, hidden 32,
with a 92-token WordPiece vocabulary) and the synthetic negation task: seconds, not hours.

Tests that need ``transformers`` (the ``[distill]`` extra) skip without it, saying so, unless
``REQUIRE_DISTILL=1``, where they fail instead (CI with the extra installed sets it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import string
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from model import load_bundle
from model.config import configs_from_values
from model.distill import pipeline
from model.distill.augment import MASK, augment
from model.distill.config import AugmentConfig, TeacherConfig
from model.distill.transfer import TransferCacheError, TransferSet, load_cache, save_cache, write_texts
from model.training.loop import train
from model.training.targets import SoftTargets
from tests.conftest import TINY
from tests.support.data import FILLER, negation_dataset, negation_examples

ROOT = Path(__file__).resolve().parents[2]
HAVE_TRANSFORMERS = importlib.util.find_spec("transformers") is not None
EXTRA = "pip install -e '.[distill]'"
# Learns the negation task in about 8 epochs from random weights (0.99 on dev): a tiny BERT needs
# a large learning rate, no dropout and a wider initialisation than BERT's 0.02 to do it that fast.
TINY_TEACHER = TeacherConfig(epochs=8, batch_size=16, learning_rate=3e-3, warmup=0.0, max_length=32, seed=1)
STUDENT = {**TINY, "epochs": 6, "threads": 1}
TASK = negation_dataset(400, seed=1), negation_dataset(200, seed=2)


def requires_transformers() -> None:
    if not HAVE_TRANSFORMERS:
        if os.environ.get("REQUIRE_DISTILL") == "1":
            pytest.fail(f"REQUIRE_DISTILL=1 but transformers is not installed ({EXTRA})")
        pytest.skip(f"transformers is not installed (the [distill] extra: {EXTRA})")


def write_tiny_teacher(folder: Path) -> Path:
    """A random 2-layer BERT with a WordPiece vocabulary of the task's words, letters and digits,
    saved as transformers saves one (config.json, tokenizer files, model.safetensors)."""
    from tokenizers.implementations import BertWordPieceTokenizer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *FILLER, "good", "bad", "not",
             *string.ascii_lowercase, *string.digits, *(f"##{c}" for c in string.ascii_lowercase + string.digits)]
    wordpiece = BertWordPieceTokenizer({token: i for i, token in enumerate(vocab)})
    BertTokenizerFast(tokenizer_object=wordpiece._tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                      sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, initializer_range=0.1)
    BertModel(config).save_pretrained(folder, safe_serialization=True)  # no classifier head, like MiniLM's
    return folder


@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory) -> Path:
    requires_transformers()
    return write_tiny_teacher(tmp_path_factory.mktemp("tiny-teacher"))


@pytest.fixture(scope="module")
def distilled(tiny_teacher, tmp_path_factory):
    """The whole pipeline, run once: (result, work folder, configs)."""
    work = tmp_path_factory.mktemp("work")
    configs = configs_from_values(STUDENT)
    result = run_pipeline(work, tiny_teacher, configs)
    return result, work, configs


def run_pipeline(work: Path, teacher: Path, configs, out: Path | None = None, messages: list | None = None,
                 overwrite: bool = False, co_teacher: Path | None = None):
    model_config, tok_config, train_config = configs
    return pipeline.run(*TASK, out or work / "student", work, teacher_source=teacher, teacher_config=TINY_TEACHER,
                        augment_config=AugmentConfig(per_text=3, seed=1), model_config=model_config,
                        tokenizer_config=tok_config, train_config=train_config, command="python -m model distill ...",
                        overwrite=overwrite, say=(messages.append if messages is not None else lambda _: None),
                        co_teacher=co_teacher)


# --- augmentation ---------------------------------------------------------------------------------

TEXTS = ["a quietly moving film about loss", "the plot goes nowhere and the jokes fall flat",
         "not good at all", "an unexpected delight from start to finish"]


def test_augmentation_is_seeded_and_deduplicated():
    config = AugmentConfig(per_text=20, seed=3)
    first = augment(TEXTS, config)
    assert first == augment(TEXTS, config)
    assert first != augment(TEXTS, replace(config, seed=4))
    variants = [v for _, v in first]
    assert len(variants) == len(set(variants)) and not set(variants) & set(TEXTS)
    assert {i for i, _ in first} == set(range(len(TEXTS)))


def test_augmentation_makes_masked_replaced_and_ngram_variants():
    corpus = {w for t in TEXTS for w in t.split()}
    masked = augment(TEXTS, AugmentConfig(per_text=5, p_mask=1.0, p_replace=0.0, p_ngram=0.0))
    assert [v for _, v in masked] == [" ".join([MASK] * len(t.split())) for t in TEXTS]  # the rest are duplicates
    replaced = augment(TEXTS, AugmentConfig(per_text=5, p_mask=0.0, p_replace=1.0, p_ngram=0.0))
    for index, v in replaced:
        assert len(v.split()) == len(TEXTS[index].split()) and set(v.split()) <= corpus
    ngrams = augment(TEXTS, AugmentConfig(per_text=10, p_mask=0.0, p_replace=0.0, p_ngram=1.0, max_ngram=3))
    for index, v in ngrams:
        assert 1 <= len(v.split()) <= 3 and f" {v} " in f" {TEXTS[index]} "  # a contiguous piece of its text
    mixed = [v for _, v in augment(TEXTS, AugmentConfig(per_text=20, seed=1))]  # the paper's probabilities
    assert any(MASK in v for v in mixed)
    assert any(len(v.split()) < 5 and MASK not in v for v in mixed)
    assert any(w not in t.split() and w != MASK for v in mixed for t in TEXTS if len(v.split()) == len(t.split())
               for w in v.split())


def test_augmentation_options_are_checked():
    with pytest.raises(ValueError, match="p_mask \\+ p_replace must be at most 1"):
        augment(TEXTS, AugmentConfig(p_mask=0.6, p_replace=0.6))
    assert augment(TEXTS, AugmentConfig(per_text=0)) == []


# --- the logits cache -------------------------------------------------------------------------------

def write_cache(tmp_path: Path) -> tuple[Path, TransferSet, torch.Tensor]:
    transfer = TransferSet(["good film", "bad film", f"{MASK} film"], ["1", "0", None], [0, 1, 0])
    texts_file = tmp_path / "texts.jsonl"
    write_texts(texts_file, transfer)
    logits = torch.tensor([[-2.0, 2.0], [1.5, -1.0], [0.25, 0.5]])
    folder = tmp_path / "cache"
    folder.mkdir()
    save_cache(folder, texts_file, logits, ["0", "1"], {"path": "teacher", "weights_sha256": "abc", "dev_accuracy": 0.9})
    return folder, transfer, logits


def test_the_logits_cache_round_trips(tmp_path):
    folder, transfer, logits = write_cache(tmp_path)
    cache = load_cache(folder)
    assert cache.transfer == transfer and cache.labels == ["0", "1"] and cache.teacher["dev_accuracy"] == 0.9
    assert torch.equal(cache.logits, logits) and cache.logits.dtype == torch.float32
    record = json.loads((folder / "logits.json").read_text())
    assert len(record["texts_sha256"]) == len(record["logits_sha256"]) == 64


@pytest.mark.parametrize("file", ["logits.safetensors", "texts.jsonl"])
def test_a_tampered_cache_is_refused(tmp_path, file):
    folder, _, _ = write_cache(tmp_path)
    path = folder / file
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    path.unlink()  # the texts may be a hard link: write a new file, as an editor would
    path.write_bytes(bytes(data))
    with pytest.raises(TransferCacheError, match=f"{file}: checksum mismatch with logits.json"):
        load_cache(folder)


# --- the student's loss -----------------------------------------------------------------------------

def rule_logits(texts: list[str], labels: list[str]) -> torch.Tensor:
    """What a perfect teacher says: +-3 on the true label's side."""
    sign = torch.tensor([1.0 if y == "1" else -1.0 for y in labels])
    return torch.stack([-3 * sign, 3 * sign], dim=1)


def test_the_student_learns_the_teachers_function_from_soft_targets_alone():
    train_data, dev_data = TASK
    soft = SoftTargets(rule_logits(train_data.texts, train_data.labels), ["0", "1"])
    noise = torch.Generator().manual_seed(0)
    random_labels = [str(int(b)) for b in torch.randint(0, 2, (len(train_data),), generator=noise)]
    scrambled = replace(train_data, labels=random_labels)
    soft_only = train(scrambled, dev_data, *configs_from_values({**STUDENT, "distill_alpha": 0.0}), soft_targets=soft)
    hard_only = train(scrambled, dev_data, *configs_from_values({**STUDENT, "distill_alpha": 1.0}), soft_targets=soft)
    assert soft_only.metrics["accuracy"] >= 0.9  # the labels were noise: all it knew came from the logits
    assert hard_only.metrics["accuracy"] < 0.75
    assert soft_only.data["soft_targets"] is True


def test_soft_target_columns_follow_their_labels():
    logits = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert torch.equal(SoftTargets(logits, ["1", "0"]).aligned(2, {"0": 0, "1": 1}), logits[:, [1, 0]])
    with pytest.raises(ValueError, match="one row per training example"):
        SoftTargets(logits, ["0", "1"]).aligned(3, {"0": 0, "1": 1})
    with pytest.raises(ValueError, match=r"soft targets are for labels \['0', 'x'\]"):
        SoftTargets(logits, ["0", "x"]).aligned(2, {"0": 0, "1": 1})


def test_without_a_teacher_distill_alpha_changes_nothing():
    train_data, dev_data = negation_dataset(64, seed=1), negation_dataset(32, seed=2)
    runs = [train(train_data, dev_data, *configs_from_values({**STUDENT, "max_steps": 3, "distill_alpha": alpha}))
            for alpha in (0.0, 1.0)]
    for a, b in zip(runs[0].model.state_dict().values(), runs[1].model.state_dict().values()):
        assert torch.equal(a, b)


def test_soft_targets_need_a_dev_set():
    train_data = negation_dataset(40, seed=1)
    soft = SoftTargets(rule_logits(train_data.texts, train_data.labels), ["0", "1"])
    with pytest.raises(ValueError, match="needs a dev set"):
        train(train_data, None, *configs_from_values(STUDENT), soft_targets=soft)


# --- the teacher and the pipeline (transformers) ------------------------------------------------------

def test_the_teacher_batches_texts_of_similar_length_covering_each_once():
    requires_transformers()
    import random

    from model.distill.teacher import _length_batches

    texts = [" ".join(["w"] * random.Random(i).randint(1, 40)) for i in range(1000)]
    batches = _length_batches(texts, 16, random.Random(0), pool=10)
    assert sorted(i for b in batches for i in b) == list(range(1000))  # every text once per epoch
    assert batches == _length_batches(texts, 16, random.Random(0), pool=10)  # seeded
    assert batches != _length_batches(texts, 16, random.Random(1), pool=10)
    # Padding: each batch is padded to its longest text; sorted pools waste far less than random batches.
    def padding(bs):
        return sum(max(len(texts[i]) for i in b) * len(b) - sum(len(texts[i]) for i in b) for b in bs)

    order = list(range(1000))
    random.Random(0).shuffle(order)
    assert padding(batches) < 0.2 * padding([order[i : i + 16] for i in range(0, 1000, 16)])


def test_teacher_fine_tuning_beats_chance_and_saves_no_pickle(distilled):
    result, work, _ = distilled
    assert result.teacher["dev_accuracy"] >= 0.8  # chance is about 0.5, a bag of words about 0.75
    assert result.teacher["history"][0]["dev_accuracy"] < result.teacher["dev_accuracy"]
    assert {"seconds", "device", "threads", "best_epoch"} <= set(result.teacher)
    files = {p.name for p in (work / "teacher").iterdir()}
    assert "model.safetensors" in files and all(name.endswith((".json", ".safetensors")) for name in files), files


def test_the_pipeline_writes_a_student_bundle_that_records_its_teacher(distilled):
    result, work, _ = distilled
    assert result.skipped == [] and result.student.metrics["accuracy"] >= 0.8
    bundle = load_bundle(result.out)
    distill = bundle.training["distill"]
    assert distill["teacher_dev_accuracy"] == result.teacher["dev_accuracy"]
    assert distill["transfer_examples"] == result.cache["examples"] > len(TASK[0])
    assert distill["logits_sha256"] == result.cache["logits_sha256"]
    card = (result.out / "README.md").read_text()
    assert f"dev accuracy {result.teacher['dev_accuracy']:.4f}" in card and result.cache["texts_sha256"] in card
    cache = load_cache(work / "logits")  # the student can be retrained from this alone
    assert cache.transfer.texts[: len(TASK[0])] == TASK[0].texts and cache.transfer.labels[-1] is None


def test_a_second_run_skips_the_finished_stages(distilled, tiny_teacher, tmp_path):
    _, work, configs = distilled
    messages: list[str] = []
    again = run_pipeline(work, tiny_teacher, configs, messages=messages)
    assert again.skipped == ["teacher", "transfer", "logits", "student"] and again.student is None
    assert messages[0].startswith("teacher: done, skipped")
    model_config, tok_config, train_config = configs
    other = run_pipeline(work, tiny_teacher, (model_config, tok_config, replace(train_config, seed=2)),
                         out=tmp_path / "student-seed2", messages=messages)
    assert other.skipped == ["teacher", "transfer", "logits"] and other.student is not None


def test_a_co_teacher_bundle_teaches_beside_the_transformer(distilled, tiny_teacher, tmp_path):
    """--co-teacher: the student fits the centred mean of the two teachers' log-probabilities; the
    stage records each teacher's dev accuracy and the ensemble's, and is skipped the second time."""
    from safetensors.torch import load_file

    from model import Predictor
    from model.bundle import save_bundle

    _, work, configs = distilled
    # A co-teacher that answers with label names: its columns are found through its label_names.
    co = train(*TASK, *configs_from_values({**STUDENT, "epochs": 3, "label_names": {"0": "negative", "1": "positive"}}))
    save_bundle(tmp_path / "co", co.model, co.tokenizer, co.tokenizer_config, training=co.training_metadata(), card="")
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    result = run_pipeline(copy, tiny_teacher, configs, out=tmp_path / "student", co_teacher=tmp_path / "co")
    ensemble = result.ensemble
    assert result.skipped == ["teacher", "transfer", "logits"] and result.student is not None
    assert ensemble["teacher_dev_accuracy"] == result.teacher["dev_accuracy"]  # the same teacher, relabelled
    assert ensemble["co_teacher_dev_accuracy"] == round(co.metrics["accuracy"], 4)
    assert 0.5 < ensemble["ensemble_dev_accuracy"] <= 1.0 and ensemble["weight"] == 0.5

    cache = load_cache(copy / "logits")
    targets = load_file(str(copy / "co_teacher" / pipeline.TARGETS_FILE))["targets"]
    assert targets.shape == cache.logits.shape and torch.allclose(targets.sum(dim=1), torch.zeros(len(targets)), atol=1e-5)
    probs = torch.from_numpy(Predictor.load(tmp_path / "co").predict_proba(cache.transfer.texts[:50]))  # negative, positive
    expected = (torch.log_softmax(cache.logits[:50], dim=1) + probs.clamp_min(1e-7).log()) / 2
    assert torch.allclose(targets[:50], expected - expected.mean(dim=1, keepdim=True), atol=1e-5)

    bundle = load_bundle(result.out)
    recorded = bundle.training["distill"]["co_teacher"]
    assert recorded["ensemble_dev_accuracy"] == ensemble["ensemble_dev_accuracy"]
    assert recorded["targets_sha256"] == ensemble["targets_sha256"]
    assert bundle.training["distill"]["inputs"]["targets_sha256"] == ensemble["targets_sha256"]
    assert f"ensemble dev accuracy {ensemble['ensemble_dev_accuracy']:.4f}" in (result.out / "README.md").read_text()
    for shipped in ("config.json", "README.md"):  # teachers by name and checksum, no path of this machine
        text = (result.out / shipped).read_text()
        assert str(tmp_path) not in text and str(tiny_teacher) not in text and str(work) not in text
    assert recorded["source"] == "co" and bundle.training["distill"]["teacher"]["path"] == "teacher"

    messages: list[str] = []
    again = run_pipeline(copy, tiny_teacher, configs, out=tmp_path / "student", messages=messages,
                         co_teacher=tmp_path / "co")
    assert again.skipped == ["teacher", "transfer", "logits", "co_teacher", "student"]
    assert any(m.startswith("co-teacher: done, skipped") for m in messages)
    # Without the co-teacher, the same student hyperparameters make another student: the inputs differ.
    with pytest.raises(ValueError, match="already exists and was not made from these inputs"):
        run_pipeline(copy, tiny_teacher, configs, out=tmp_path / "student")


def test_a_co_teacher_with_other_labels_is_refused(distilled, tiny_teacher, tmp_path):
    from model.bundle import save_bundle

    _, work, configs = distilled
    co = train(*TASK, *configs_from_values({**STUDENT, "epochs": 1, "label_names": {"0": "bad", "1": "good"}}))
    save_bundle(tmp_path / "co", co.model, co.tokenizer, co.tokenizer_config, training=co.training_metadata(), card="")
    config = json.loads((tmp_path / "co" / "config.json").read_text())
    config["model"]["label_names"] = {"0": "bad", "2": "good"}  # raw label "1" has no column
    (tmp_path / "co" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"--co-teacher .*co: its labels \['bad', 'good'\]"):
        run_pipeline(work, tiny_teacher, configs, out=tmp_path / "student", co_teacher=tmp_path / "co")
    assert not (tmp_path / "student").exists()
    with pytest.raises(ValueError, match="not a model bundle"):
        run_pipeline(work, tiny_teacher, configs, out=tmp_path / "student", co_teacher=tmp_path)


def test_a_tampered_cache_in_the_work_folder_is_refused(distilled, tiny_teacher, tmp_path):
    _, work, configs = distilled
    copy = tmp_path / "work"
    shutil.copytree(work, copy)
    logits = copy / "logits" / "logits.safetensors"
    data = bytearray(logits.read_bytes())
    data[-1] ^= 1
    logits.write_bytes(bytes(data))
    with pytest.raises(TransferCacheError, match="checksum mismatch"):
        run_pipeline(copy, tiny_teacher, configs, out=tmp_path / "student")


# --- the CLI ------------------------------------------------------------------------------------------

BLOCK_TRANSFORMERS = "import sys, runpy; sys.modules['transformers'] = None; sys.argv[0] = 'model'; " \
                     "runpy.run_module('model', run_name='__main__')"


def run_cli(*args: str, cwd: Path, block_transformers: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = ["-c", BLOCK_TRANSFORMERS, *args] if block_transformers else ["-m", "model", *args]
    return subprocess.run([sys.executable, *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def write_task(folder: Path) -> None:
    for name, seed, n in (("train.tsv", 1, 400), ("dev.tsv", 2, 200)):
        texts, labels = negation_examples(n, seed)
        (folder / name).write_text("label\tsentence\n" + "".join(f"{y}\t{t}\n" for t, y in zip(texts, labels)))


def cli_flags(teacher: Path, work: str, out: str) -> list[str]:
    teacher_flags = [f"--teacher-{k.replace('_', '-')}={v}" for k, v in TINY_TEACHER.to_dict().items()]
    student = [f"--{k.replace('_', '-')}={'none' if v is None else v}" for k, v in STUDENT.items()]
    return ["distill", "--train", "train.tsv", "--dev", "dev.tsv", "--out", out, "--work-dir", work,
            "--teacher", str(teacher), "--augment-per-text", "2", "--quiet", *teacher_flags, *student]


def test_without_the_extra_distill_fails_with_one_line_naming_it(tmp_path):
    write_task(tmp_path)
    stub = tmp_path / "stub-teacher"  # transformers is never reached for: no real teacher is needed
    stub.mkdir()
    (stub / "config.json").write_text("{}")
    proc = run_cli(*cli_flags(stub, "work", "student"), cwd=tmp_path, block_transformers=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("error: distillation needs Hugging Face transformers") and EXTRA in proc.stderr
    assert not (tmp_path / "student").exists()


def test_the_cli_runs_the_pipeline_and_retrains_the_student_without_the_teacher(tiny_teacher, tmp_path):
    write_task(tmp_path)
    proc = run_cli(*cli_flags(tiny_teacher, "work", "student"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["skipped"] == [] and summary["accuracy"] >= 0.8 and summary["teacher_dev_accuracy"] >= 0.8
    card = (tmp_path / "student" / "README.md").read_text()
    assert "python -m model distill --train train.tsv --dev dev.tsv --out student --work-dir work" in card
    # A new student from the same work folder: the teacher and its logits are not needed again.
    proc = run_cli(*cli_flags(tiny_teacher, "work", "student2"), "--hidden-size", "8", cwd=tmp_path,
                   block_transformers=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["skipped"] == ["teacher", "transfer", "logits"]
    assert "teacher: done, skipped" in proc.stderr
