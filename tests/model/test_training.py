import pytest
import torch

from model import Dataset, ModelConfig, Progress, TokenizerConfig, TrainConfig, TrainingCancelled, TrainResult, train
from model.training.card import render_card
from model.training.loop import length_bucketed_batches, lr_factor


@pytest.fixture(scope="module")
def task(make_dataset):
    """The negation task: counting words gets about 75% on it, reading the order 100%."""
    return make_dataset(300, 1), make_dataset(100, 2)


@pytest.mark.parametrize(
    ("cell", "nonlinearity"),
    [("rnn", "tanh"), ("rnn", "relu"), ("lstm", "tanh"), ("gru", "tanh")],
    ids=["rnn-tanh", "rnn-relu", "lstm", "gru"],
)
def test_each_cell_learns_an_order_task(task, tiny_train, cell, nonlinearity):
    result = tiny_train(*task, cell=cell, nonlinearity=nonlinearity)
    assert result.metrics["accuracy"] >= 0.9, result.history
    assert result.history[0]["train_loss"] > result.history[-1]["train_loss"]
    assert result.model_config.cell == cell
    assert isinstance(result.model.rnn, {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell])
    if cell == "rnn":
        assert result.model.rnn.nonlinearity == nonlinearity


def state(result: TrainResult) -> dict[str, torch.Tensor]:
    return result.model.state_dict()


def test_same_seed_gives_identical_weights(task, tiny_train):
    first = tiny_train(*task, seed=5, epochs=1, dropout=0.3)
    second = tiny_train(*task, seed=5, epochs=1, dropout=0.3)
    assert first.tokenizer.tokenizer.get_vocab() == second.tokenizer.tokenizer.get_vocab()
    assert all(torch.equal(v, state(second)[k]) for k, v in state(first).items())
    assert first.history[0]["train_loss"] == second.history[0]["train_loss"]


def test_different_seed_gives_different_weights(task, tiny_train):
    first = tiny_train(*task, seed=5, epochs=1, max_steps=3)
    other = tiny_train(*task, seed=6, epochs=1, max_steps=3)
    assert not torch.equal(state(first)["classifier.weight"], state(other)["classifier.weight"])


def test_should_stop_cancels_training(task, tiny_train):
    calls = []

    def should_stop():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(TrainingCancelled, match="epoch 1, step 3"):
        tiny_train(*task, should_stop=should_stop)
    assert len(calls) == 4


def test_progress_reports_steps_and_epochs(task, tiny_train):
    reports: list[Progress] = []
    result = tiny_train(*task, epochs=2, batch_size=50, progress=reports.append)
    steps = [p for p in reports if p.stage == "step"]
    epochs = [p for p in reports if p.stage == "epoch"]
    assert [p.step for p in steps] == list(range(1, 13))  # 300 examples / 50 per batch * 2 epochs
    assert {p.total_steps for p in reports} == {12} and {p.epochs for p in reports} == {2}
    assert [p.epoch for p in epochs] == [1, 2]
    assert [p.step for p in epochs] == [6, 12]
    assert [p.dev for p in epochs] == result.history
    assert all(p.dev is None for p in steps)
    assert all(p.tokens_per_s > 0 and p.loss > 0 and p.eta_s >= 0 for p in reports)
    assert reports[-1].eta_s == 0
    assert result.steps == 12


def test_max_steps_stops_training(task, tiny_train):
    reports: list[Progress] = []
    result = tiny_train(*task, max_steps=2, progress=reports.append)
    assert result.steps == 2
    assert len(result.history) == 1
    assert [p.stage for p in reports] == ["step", "step", "epoch"]


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_a_decaying_schedule_falls_from_the_learning_rate_to_zero(schedule):
    factor = lr_factor(schedule, 100)
    assert factor(0) == 1.0
    assert factor(50) == pytest.approx(0.5)
    assert factor(100) == pytest.approx(0.0) and factor(150) == pytest.approx(0.0)
    assert all(factor(s) >= factor(s + 1) for s in range(120))
    assert lr_factor("constant", 100)(99) == 1.0


def test_the_schedule_changes_the_steps_after_the_first(task, tiny_train):
    runs = {
        (schedule, steps): tiny_train(*task, lr_schedule=schedule, max_steps=steps, epochs=1)
        for schedule in ("constant", "linear")
        for steps in (1, 3)
    }
    # the first step takes the full rate under both; later ones a smaller one under ``linear``
    assert all(torch.equal(v, state(runs["linear", 1])[k]) for k, v in state(runs["constant", 1]).items())
    assert not torch.equal(
        state(runs["constant", 3])["classifier.weight"], state(runs["linear", 3])["classifier.weight"]
    )
    assert runs["linear", 3].train_config.lr_schedule == "linear"
    assert "lr 0.01 (linear decay to 0)" in render_card(runs["linear", 3], "cmd")
    assert "lr 0.01, weight decay" in render_card(runs["constant", 3], "cmd")


def test_early_stopping_keeps_the_best_epoch(task, tiny_train):
    result = tiny_train(*task, epochs=30, patience=1, learning_rate=2e-2)
    accuracies = [h["dev_accuracy"] for h in result.history]
    assert result.stopped_early
    assert len(accuracies) < 30
    assert accuracies[-1] <= max(accuracies[:-1])  # the epoch that ran out of patience
    assert result.best_epoch == accuracies.index(max(accuracies)) + 1


def test_temperature_calibration_fields(task, tiny_train):
    result = tiny_train(*task, epochs=2)
    cal = result.calibration
    assert set(cal) == {"temperature", "ece_before", "ece_after"}
    assert 0.05 <= cal["temperature"] <= 20
    assert result.model_config.temperature == cal["temperature"]
    assert 0 <= cal["ece_after"] <= 1 and 0 <= cal["ece_before"] <= 1
    assert result.metrics["ece"] == pytest.approx(cal["ece_after"])
    assert result.training_metadata()["calibration"] == cal


def test_calibration_can_be_switched_off(task, tiny_train):
    result = tiny_train(*task, epochs=1, calibrate=False)
    assert result.calibration["temperature"] == 1.0
    assert result.model_config.temperature == 1.0
    assert result.calibration["ece_after"] == pytest.approx(result.calibration["ece_before"])


def imbalanced(make_examples, n: int, seed: int) -> Dataset:
    """About 80% label "1": positive examples kept, most negatives dropped."""
    texts, labels = make_examples(n, seed)
    keep = [i for i, y in enumerate(labels) if y == "1" or i % 4 == 0]
    return Dataset([texts[i] for i in keep], [labels[i] for i in keep], "<memory>", [i + 2 for i in keep])


def test_class_weights_option_changes_the_loss(make_examples, tiny_train):
    train, dev = imbalanced(make_examples, 400, 1), imbalanced(make_examples, 100, 2)
    weighted = tiny_train(train, dev, class_weights=True, epochs=2)
    plain = tiny_train(train, dev, class_weights=False, epochs=2)
    assert weighted.train_config.class_weights
    assert weighted.history[0]["train_loss"] != plain.history[0]["train_loss"]
    assert weighted.metrics["per_class"]["0"]["support"] > 0
    assert weighted.metrics["accuracy"] > 0.5


def test_without_dev_data_a_stratified_dev_set_is_split_off(make_dataset, tiny_train):
    result = tiny_train(make_dataset(200, 1), None, dev_fraction=0.2, epochs=1)
    assert result.data["dev_source"] == "split"
    assert result.data["dev_examples"] == 40
    assert result.data["train_examples"] == 160
    assert result.metrics["n"] == 40


def test_label_names_name_the_classes(task, tiny_train):
    result = tiny_train(*task, epochs=1, label_names={"0": "negative", "1": "positive"})
    assert result.model_config.labels == ["negative", "positive"]
    assert result.metrics["labels"] == ["negative", "positive"]
    assert result.model_config.label_names == {"0": "negative", "1": "positive"}


def test_training_metadata_records_the_run(task, tiny_train):
    result = tiny_train(*task, epochs=1)
    meta = result.training_metadata()
    assert meta["train_config"]["epochs"] == 1
    assert meta["data"]["train_sha256"] == task[0].sha256
    assert meta["data"]["label_counts"] == task[0].label_counts()
    assert meta["trainable_parameters"] == meta["parameters"] > 0
    assert meta["metrics"]["accuracy"] == result.metrics["accuracy"]


def test_trained_model_is_returned_on_cpu_in_eval_mode(task, tiny_train):
    result = tiny_train(*task, epochs=1, dropout=0.5)
    assert not result.model.training
    assert next(result.model.parameters()).device.type == "cpu"


def test_invalid_train_config_is_rejected(task, tiny_train):
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda"):
        tiny_train(*task, device="tpu")
    with pytest.raises(ValueError, match="epochs must be between"):
        TrainConfig(epochs=0).validate()


def test_single_class_training_data_is_rejected(tiny_train):
    data = Dataset(["a", "b"], ["pos", "pos"], "one.tsv", [2, 3])
    with pytest.raises(ValueError, match="one.tsv:3: only one class"):
        tiny_train(data)


def test_configs_passed_in_are_not_mutated(task):
    arch, tok = ModelConfig(embedding_dim=16, hidden_size=16), TokenizerConfig(tokenizer="word", max_length=32)
    result = train(*task, arch, tok, TrainConfig(pretrained=None, epochs=1, max_steps=1, device="cpu"))
    assert arch == ModelConfig(embedding_dim=16, hidden_size=16)
    assert result.model_config.labels == ["0", "1"] and result.model_config.vocab_size > 2


def test_without_pretrained_vectors_embeddings_are_trained_and_recorded_so(task, tiny_train):
    result = tiny_train(*task, epochs=1, pretrained=None, freeze_embeddings=True)
    assert not result.model_config.freeze_embeddings  # the value in effect, as the bundle records it
    assert result.model.embedding.weight.requires_grad
    assert result.data["pretrained"] is None and result.data["pretrained_source"] is None


def test_runtime_options_are_recorded_apart_from_the_train_config(task, tiny_train):
    one = tiny_train(*task, max_steps=2, threads=1).training_metadata()
    other = tiny_train(*task, max_steps=2, threads=None).training_metadata()
    assert one["train_config"] == other["train_config"]
    assert "threads" not in one["train_config"] and "device" not in one["train_config"]
    assert one["runtime"] == {"threads": 1, "device": "cpu"} and other["runtime"]["threads"] is None


def test_minilm_pretrained_needs_the_wordpiece_tokenizer(task):
    with pytest.raises(ValueError, match="pretrained 'minilm' needs tokenizer 'wordpiece'; got tokenizer 'word'"):
        train(*task, ModelConfig(), TokenizerConfig(tokenizer="word"), TrainConfig(pretrained="minilm"))


def test_length_bucketed_batches_cover_every_example_once():
    import random

    lengths = [random.Random(i).randint(1, 50) for i in range(1000)]
    batches = length_bucketed_batches(lengths, 32, random.Random(0))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert all(len(b) <= 32 for b in batches)
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches) / len(batches)
    assert spread < 5  # similar lengths together, so padding stays small


def test_a_plateau_stops_training_and_says_so(task, tiny_train):
    reports: list[Progress] = []
    result = tiny_train(*task, epochs=30, patience=1, learning_rate=2e-2, progress=reports.append)
    best = max(h["dev_accuracy"] for h in result.history)
    assert result.stop_reason == (
        f"plateau: dev accuracy did not improve for 1 epoch (best {best:.3f} at epoch {result.best_epoch})"
    )
    assert result.stopped_early and result.training_metadata()["stop_reason"] == result.stop_reason
    epochs = [p for p in reports if p.stage == "epoch"]
    assert [p.stop_reason for p in epochs] == [None] * (len(epochs) - 1) + [result.stop_reason]


def test_the_last_epoch_and_max_steps_are_stop_reasons(task, tiny_train):
    full = tiny_train(*task, epochs=2, patience=5)
    assert full.stop_reason == "max_epochs: reached 2 epochs" and not full.stopped_early
    # patience running out on the last epoch is still the end of the epochs, not a plateau
    assert tiny_train(*task, epochs=2, patience=1, learning_rate=1e-7).stop_reason == "max_epochs: reached 2 epochs"
    short = tiny_train(*task, max_steps=3)
    assert short.stop_reason == "max_steps: reached 3 steps" and not short.stopped_early


def test_each_epoch_records_its_own_speed(task, tiny_train):
    reports: list[Progress] = []
    result = tiny_train(*task, epochs=2, patience=5, progress=reports.append)
    for h in result.history:
        assert h["seconds"] > 0 and h["tokens_per_s"] > 0 and h["elapsed_s"] >= h["seconds"] * 0.99
    assert result.history[1]["elapsed_s"] > result.history[0]["elapsed_s"]
    assert all(p.tokens_per_s > 0 and p.elapsed_s > 0 for p in reports)


def test_the_scripts_of_the_training_text_are_recorded(task, tiny_train):
    assert tiny_train(*task, max_steps=1).data["scripts"] == {"latin": 1.0}
