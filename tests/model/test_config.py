"""One declaration per hyperparameter: defaults, ranges and names come from the dataclass fields."""

import dataclasses
from pathlib import Path

import pytest

from model import ModelConfig, TokenizerConfig, TrainConfig, load_bundle
from model.config import HYPERPARAMETERS, Hyperparameter, configs_from_values, hyperparameter_values, options_for
from model.training.auto import resolve_auto

BUNDLED = Path(__file__).resolve().parents[2] / "model" / "bundled" / "sentiment-en"
INTERNAL = {"labels", "vocab_size", "pad_id", "unk_id", "temperature", "task", "thresholds", "eval_batch_size"}


def test_every_field_is_a_hyperparameter_or_internal():
    names = [hp.name for hp in HYPERPARAMETERS]
    assert len(names) == len(set(names))  # one name, whichever config holds it
    fields = {f.name for cls in (ModelConfig, TokenizerConfig, TrainConfig) for f in dataclasses.fields(cls)}
    assert fields == set(names) | INTERNAL
    assert [hp.name for hp in HYPERPARAMETERS if hp.section == "tokenizer"] == [
        f.name for f in dataclasses.fields(TokenizerConfig)
    ]  # declaration order


def test_hyperparameters_describe_their_fields():
    by_name = {hp.name: hp for hp in HYPERPARAMETERS}
    assert by_name["layers"] == Hyperparameter("layers", "model", int, 1, "stacked recurrent layers", 1, 8, field="layers")
    assert by_name["label_names"].type is dict and by_name["label_names"].default == {}
    assert by_name["pretrained"].choices == ("auto", "minilm") and by_name["pretrained"].nullable
    assert by_name["max_steps"].nullable and not by_name["epochs"].nullable
    assert {hp.name for hp in HYPERPARAMETERS if hp.runtime} == {"threads", "device"}
    assert {hp.name for hp in HYPERPARAMETERS if not hp.applies_to("http")} == {"threads", "device", "distill_alpha"}
    assert {hp.name for hp in HYPERPARAMETERS if not hp.applies_to("train")} == {"distill_alpha"}
    # a distillation publishes its student: what a plain run keeps (the RNN or the best candidate, refit) is not asked
    assert [hp.name for hp in options_for("distill")] == [hp.name for hp in HYPERPARAMETERS if hp.name not in ("keep", "refit")]
    assert by_name["keep"].choices == ("rnn", "best") and by_name["keep"].default == "best"
    assert all(hp.help for hp in HYPERPARAMETERS)


# The bundled model is a distilled student (README, Distillation): the defaults but for these. Its
# co-teacher, the model bundled before it, was trained with the defaults as they are.
BUNDLED_STUDENT = {"hidden_size": 64, "dropout": 0.2, "lr_schedule": "linear", "epochs": 4, "patience": 4}


def test_defaults_are_the_bundled_models_recipe_but_for_its_student_size():
    bundle = load_bundle(BUNDLED)
    recorded = bundle.training["distill"]["inputs"]["hyperparameters"]  # as given, before `auto` choices
    defaults = hyperparameter_values(ModelConfig(), TokenizerConfig(), TrainConfig())
    assert set(recorded) == set(defaults) - {"threads", "device", "keep", "refit"}  # (keep and refit came after it)
    changed = {name: value for name, value in recorded.items() if value != defaults[name]}
    assert changed.pop("label_names") == {"0": "negative", "1": "positive"}  # the data's labels, not a default
    assert changed.pop("seed", defaults["seed"]) in (13, 14, 15)  # the best of three seeds on dev
    assert changed == BUNDLED_STUDENT
    english = ["a gripping, funny film", "the plot goes nowhere"]
    _, _, chosen = resolve_auto(TokenizerConfig(), TrainConfig(), english)  # auto, for English
    assert {name: c["value"] for name, c in chosen.items()} == {"tokenizer": "wordpiece", "pretrained": "minilm"}
    assert bundle.training["data"]["pretrained"] == "minilm" and bundle.config.freeze_embeddings
    co_teacher = bundle.training["distill"]["co_teacher"]
    # the BiLSTM-128 bundled before the student (git show 22d9446:model/bundled/sst2/config.json)
    assert co_teacher["weights_sha256"] == "de83de7f74b7d864506aaf3c80958085d0d742055d9f71de80211fb78457e115"
    assert co_teacher["co_teacher_dev_accuracy"] >= 0.88


def test_configs_from_values_fills_in_defaults_and_inverts():
    model, tokenizer, train = configs_from_values({"layers": 2, "tokenizer": "bpe", "pretrained": None})
    assert (model.layers, tokenizer.tokenizer, train.pretrained) == (2, "bpe", None)
    assert model.hidden_size == ModelConfig().hidden_size and train.epochs == TrainConfig().epochs
    values = hyperparameter_values(model, tokenizer, train)
    assert configs_from_values(values) == (model, tokenizer, train)


def test_configs_from_values_rejects_unknown_names_and_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) 'lr', 'num_layers'; valid names: cell, .*"
                                         r"learning_rate.*device"):
        configs_from_values({"lr": 0.1, "num_layers": 2})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"layers": 9}, "layers must be between 1 and 8; got 9"),
        ({"embedding_dim": 0}, "embedding_dim must be between 1 and 4096; got 0"),
        ({"dropout": 0.95}, "dropout must be between 0.0 and 0.9; got 0.95"),
        ({"max_length": 100_001}, "max_length must be between 1 and 100000"),
        ({"learning_rate": 0.0}, "learning_rate must be between"),
        ({"max_steps": 0}, "max_steps must be between 1 and"),
        ({"threads": 0}, "threads must be between 1 and 512"),
        ({"cell": "transformer"}, "cell must be one of rnn, lstm, gru; got 'transformer'"),
        ({"tokenizer": "morse"}, "tokenizer must be one of auto, word, bpe, wordpiece; got 'morse'"),
        ({"device": "tpu"}, "device must be one of auto, cpu, cuda; got 'tpu'"),
        ({"epochs": "6"}, "epochs must be an integer; got '6'"),
        ({"bidirectional": 1}, "bidirectional must be true or false; got 1"),
        ({"epochs": None}, "epochs must not be null"),
        ({"label_names": {"0": 1}}, "label_names must be an object mapping raw labels to names"),
        ({"pretrained": "no/such/vectors.txt"}, "pretrained must be one of auto, minilm, none or the path of a word-vector"),
        ({"tokenizer": "word", "pretrained": "minilm"}, "pretrained 'minilm' needs tokenizer 'wordpiece'; got tokenizer 'word'"),
    ],
)
def test_configs_from_values_rejects_bad_values_naming_the_field(values, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        configs_from_values(values)


def test_pretrained_may_be_an_existing_vector_file(tmp_path):
    path = tmp_path / "vectors.txt"
    path.write_text("good 1 2\n")
    _, _, train = configs_from_values({"pretrained": str(path), "tokenizer": "word"})
    assert train.pretrained == str(path)


def test_a_float_hyperparameter_accepts_an_integer():
    _, _, train = configs_from_values({"learning_rate": 1, "max_grad_norm": 5})
    assert train.learning_rate == 1


def test_legacy_keys_are_read_under_their_new_names():
    model = ModelConfig.from_dict({"labels": ["a", "b"], "vocab_size": 10, "num_layers": 2,
                                   "label_aliases": {"0": "a"}})
    assert (model.layers, model.label_names) == (2, {"0": "a"})
    tokenizer = TokenizerConfig.from_dict({"kind": "bpe", "vocab_size": 500, "lowercase": False})
    assert (tokenizer.tokenizer, tokenizer.max_vocab_size, tokenizer.lowercase) == ("bpe", 500, False)
    with pytest.raises(ValueError, match="both 'num_layers'.*and 'layers'"):
        ModelConfig.from_dict({"labels": ["a", "b"], "vocab_size": 10, "num_layers": 2, "layers": 2})
