import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from model import BundleError, Predictor, TokenizerConfig, load_bundle, save_bundle
from model.bundle import FORMAT_VERSION, read_config
from model.inference.batches import batched_logits
from model.text.tokenizer import build_tokenizer

TEXTS = ["good w1 w2", "not good", "w3 not bad w4 w5 w6", "bad", "", "unseen words entirely", "中文 😀"]


def logits(model, tokenizer, texts=TEXTS) -> torch.Tensor:
    with torch.inference_mode():
        return batched_logits(model, tokenizer.encode_batch(texts), 4, model.config.pad_id)


def copy_bundle(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / "bundle"))


def update_checksum(bundle: Path, name: str) -> None:
    """Make config.json agree with a replaced file, so only the content itself is wrong."""
    config = json.loads((bundle / "config.json").read_text())
    config["files"][name] = hashlib.sha256((bundle / name).read_bytes()).hexdigest()
    (bundle / "config.json").write_text(json.dumps(config))


def edit_config(bundle: Path, change) -> None:
    config = json.loads((bundle / "config.json").read_text())
    change(config)
    (bundle / "config.json").write_text(json.dumps(config))


def test_round_trip_gives_identical_logits(tiny_result, tiny_bundle_path):
    bundle = load_bundle(tiny_bundle_path)
    assert torch.equal(logits(bundle.model, bundle.tokenizer), logits(tiny_result.model, tiny_result.tokenizer))
    assert bundle.config == tiny_result.model_config
    assert bundle.tokenizer_config == tiny_result.tokenizer_config
    assert bundle.labels == ["negative", "positive"]
    assert bundle.path == tiny_bundle_path
    assert not bundle.model.training


def test_round_trip_keeps_training_metadata(tiny_result, tiny_bundle_path):
    bundle = load_bundle(tiny_bundle_path)
    assert bundle.training == json.loads(json.dumps(tiny_result.training_metadata()))
    assert bundle.training["metrics"]["accuracy"] == tiny_result.metrics["accuracy"]


def test_bundle_holds_only_json_and_safetensors(tiny_bundle_path):
    assert sorted(p.name for p in tiny_bundle_path.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    config = read_config(tiny_bundle_path)
    assert config["format_version"] == FORMAT_VERSION
    assert set(config["files"]) == {"tokenizer.json", "model.safetensors"}
    assert {"python", "torch", "tokenizers", "safetensors"} <= set(config["versions"])
    assert config["model"]["labels"] == ["negative", "positive"]


def test_trained_embeddings_are_stored_as_float32(tiny_bundle_path):
    with safe_open(str(tiny_bundle_path / "model.safetensors"), framework="pt") as f:
        assert {f.get_slice(k).get_dtype() for k in f.keys()} == {"F32"}


def test_frozen_pretrained_embeddings_round_trip_as_float16(make_dataset, tiny_train, tmp_path):
    gen = torch.Generator().manual_seed(3)
    words = ["good", "bad", "not"] + [f"w{i}" for i in range(12)]
    (tmp_path / "vectors.txt").write_text(
        "".join(w + " " + " ".join(f"{x:.5f}" for x in torch.randn(16, generator=gen).tolist()) + "\n" for w in words)
    )
    result = tiny_train(
        make_dataset(100, 1),
        make_dataset(30, 2),
        pretrained=str(tmp_path / "vectors.txt"),
        freeze_embeddings=True,
        epochs=2,
    )
    path = save_bundle(tmp_path / "frozen", result.model, result.tokenizer, result.tokenizer_config)
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        dtypes = {k: f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes.pop("embedding.weight") == "F16"
    assert set(dtypes.values()) == {"F32"}
    bundle = load_bundle(path)
    assert bundle.config.freeze_embeddings
    assert bundle.model.embedding.weight.dtype == torch.float32
    assert torch.equal(logits(bundle.model, bundle.tokenizer), logits(result.model, result.tokenizer))


def test_model_card_is_written(tiny_result, tmp_path):
    r = tiny_result
    path = save_bundle(tmp_path / "b", r.model, r.tokenizer, r.tokenizer_config, card="# Card\n")
    assert (path / "README.md").read_text() == "# Card\n"
    load_bundle(path)  # the card is not part of the checksummed files


def test_existing_bundle_is_not_overwritten_by_default(tiny_result, tiny_bundle_path):
    r = tiny_result
    before = (tiny_bundle_path / "config.json").read_bytes()
    with pytest.raises(BundleError, match="already exists"):
        save_bundle(tiny_bundle_path, r.model, r.tokenizer, r.tokenizer_config)
    assert (tiny_bundle_path / "config.json").read_bytes() == before


def test_overwrite_replaces_the_bundle_and_leaves_nothing_behind(tiny_result, make_dataset, tiny_train, tmp_path):
    r = tiny_result
    path = save_bundle(tmp_path / "b", r.model, r.tokenizer, r.tokenizer_config)
    other = tiny_train(make_dataset(60, 3), make_dataset(20, 4), cell="gru", epochs=1)
    save_bundle(path, other.model, other.tokenizer, other.tokenizer_config, overwrite=True)
    assert load_bundle(path).config.cell == "gru"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]  # no .partial or .old folders


def test_failed_save_leaves_no_partial_folder(tiny_result, tmp_path):
    r = tiny_result
    with pytest.raises(TypeError):
        save_bundle(tmp_path / "b", r.model, r.tokenizer, r.tokenizer_config, training={"bad": object()})
    assert list(tmp_path.iterdir()) == []


def test_save_creates_parent_folders(tiny_result, tmp_path):
    r = tiny_result
    path = save_bundle(tmp_path / "models" / "v1", r.model, r.tokenizer, r.tokenizer_config)
    assert load_bundle(path).labels == ["negative", "positive"]


def test_predictor_load(tiny_bundle_path):
    predictor = Predictor.load(tiny_bundle_path, batch_size=2)
    assert predictor.batch_size == 2
    assert [p.label for p in predictor.predict(["not bad", "bad"])] == ["positive", "negative"]


def truncate_weights(bundle: Path) -> None:
    data = (bundle / "model.safetensors").read_bytes()
    (bundle / "model.safetensors").write_bytes(data[: len(data) // 2])


def swap_tokenizer(bundle: Path) -> None:
    other = build_tokenizer(TokenizerConfig(tokenizer="word"), ["a completely different and smaller vocabulary"])
    other.save(bundle / "tokenizer.json")
    update_checksum(bundle, "tokenizer.json")


def drop_a_tensor(bundle: Path) -> None:
    state = load_file(str(bundle / "model.safetensors"))
    del state["classifier.bias"]
    save_file(state, str(bundle / "model.safetensors"))
    update_checksum(bundle, "model.safetensors")


def garbage_tokenizer(bundle: Path) -> None:
    (bundle / "tokenizer.json").write_text('{"not": "a tokenizer"}')
    update_checksum(bundle, "tokenizer.json")


def set_model_key(key, value):
    return lambda bundle: edit_config(bundle, lambda c: c["model"].__setitem__(key, value))


CORRUPTIONS = {
    "missing config.json": (lambda b: (b / "config.json").unlink(), "missing config.json"),
    "missing tokenizer.json": (lambda b: (b / "tokenizer.json").unlink(), "missing tokenizer.json"),
    "missing weights": (lambda b: (b / "model.safetensors").unlink(), "missing model.safetensors"),
    "truncated weights": (truncate_weights, "model.safetensors: checksum mismatch"),
    "config not JSON": (lambda b: (b / "config.json").write_text("{'model':"), "not valid JSON"),
    "config not UTF-8": (lambda b: (b / "config.json").write_bytes(b"\xff\xfe{}"), "not valid JSON"),
    "newer format": (lambda b: edit_config(b, lambda c: c.update(format_version=99)), "unsupported bundle format"),
    "config is a list": (lambda b: (b / "config.json").write_text("[]"), "unsupported bundle format"),
    "hidden size changed": (set_model_key("hidden_size", 32), "weights do not match config.json"),
    "cell changed": (set_model_key("cell", "gru"), "weights do not match config.json"),
    "invalid cell": (set_model_key("cell", "transformer"), "invalid model config.*cell must be one of"),
    "unknown key": (set_model_key("colour", "red"), "invalid model config.*colour"),
    "vocab size changed": (set_model_key("vocab_size", 5), "tokenizer has \\d+ tokens but the model expects 5"),
    "checksums not a mapping": (lambda b: edit_config(b, lambda c: c.update(files=[])), "'files' must map"),
    "model section missing": (lambda b: edit_config(b, lambda c: c.pop("model")), "invalid model config"),
    "bad tokenizer settings": (
        lambda b: edit_config(b, lambda c: c["tokenizer"].update(tokenizer="morse")),
        "invalid model config",
    ),
    "weights edited": (
        lambda b: (b / "model.safetensors").write_bytes((b / "model.safetensors").read_bytes()[:-1] + b"\x00"),
        "checksum mismatch",
    ),
    "tokenizer replaced": (swap_tokenizer, "tokenizer has \\d+ tokens but the model expects"),
    "tokenizer not a tokenizer": (garbage_tokenizer, "cannot load tokenizer"),
    # (the checksums are checked while the tokenizer loads: a mismatch is the error that counts)
    "tokenizer damaged": (lambda b: (b / "tokenizer.json").write_text("{"), "tokenizer.json: checksum mismatch"),
    "tensor missing": (drop_a_tensor, "weights do not match config.json.*classifier.bias"),
}


@pytest.mark.parametrize("corrupt", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupt_bundle_raises_bundle_error(tiny_bundle_path, tmp_path, corrupt):
    change, message = corrupt
    bundle = copy_bundle(tiny_bundle_path, tmp_path)
    load_bundle(bundle)  # intact before the change
    change(bundle)
    with pytest.raises(BundleError, match=message) as info:
        load_bundle(bundle)
    assert str(bundle) in str(info.value)


def test_truncated_weights_without_checksums(tiny_bundle_path, tmp_path):
    bundle = copy_bundle(tiny_bundle_path, tmp_path)
    truncate_weights(bundle)
    with pytest.raises(BundleError, match="model.safetensors: cannot read weights"):
        load_bundle(bundle, verify=False)


def test_weights_missing_without_a_checksum_entry(tiny_bundle_path, tmp_path):
    bundle = copy_bundle(tiny_bundle_path, tmp_path)
    edit_config(bundle, lambda c: c.pop("files"))
    (bundle / "model.safetensors").unlink()
    with pytest.raises(BundleError, match="missing model.safetensors"):
        load_bundle(bundle)


@pytest.mark.parametrize("where", ["missing", "file"])
def test_path_that_is_not_a_bundle_folder(tmp_path, where):
    path = tmp_path / "model"
    if where == "file":
        path.write_text("not a folder")
    with pytest.raises(BundleError, match="not a model bundle directory"):
        load_bundle(path)


def test_bundle_is_readable_by_everyone(tiny_bundle_path):
    assert tiny_bundle_path.stat().st_mode & 0o777 == 0o755
    assert {p.stat().st_mode & 0o777 for p in tiny_bundle_path.iterdir()} == {0o644}


def test_bundle_written_before_the_renames_loads(tiny_result, tiny_bundle_path, tmp_path):
    """config.json of earlier versions: num_layers, label_aliases; tokenizer kind, vocab_size."""
    bundle = copy_bundle(tiny_bundle_path, tmp_path)

    def old_keys(config):
        model, tokenizer = config["model"], config["tokenizer"]
        model["num_layers"], model["label_aliases"] = model.pop("layers"), model.pop("label_names")
        tokenizer["kind"], tokenizer["vocab_size"] = tokenizer.pop("tokenizer"), tokenizer.pop("max_vocab_size")

    edit_config(bundle, old_keys)  # config.json itself is not checksummed
    assert "num_layers" in read_config(bundle)["model"]
    loaded = load_bundle(bundle)
    assert loaded.config == tiny_result.model_config
    assert loaded.config.label_names == {"0": "negative", "1": "positive"}
    assert loaded.tokenizer_config == tiny_result.tokenizer_config
    assert torch.equal(logits(loaded.model, loaded.tokenizer), logits(tiny_result.model, tiny_result.tokenizer))


def test_shipped_bundle_loads_and_predicts():
    path = Path(__file__).resolve().parents[2] / "model" / "bundled" / "sentiment-en"
    predictor = Predictor(load_bundle(path))
    predictions = predictor.predict(["a wonderful , moving film", "a dull , tedious mess"])
    assert [p.label for p in predictions] == ["positive", "negative"]
