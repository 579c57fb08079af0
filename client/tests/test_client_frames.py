"""The pandas helpers, against the real server; skipped where pandas is not installed (it is an
optional extra: ``pip install './client[pandas]'``)."""

from __future__ import annotations

import pytest

pandas = pytest.importorskip("pandas", reason="pandas is not installed (the client's optional 'pandas' extra)")


def test_predict_frame_gives_label_score_and_probability_columns_on_the_same_index(client):
    frame = pandas.DataFrame({"review": ["w1 good", "w2 not good", "w3 bad"], "label": ["pos", "neg", "neg"]},
                             index=[10, 20, 30])
    predicted = client.predict_frame(frame, "review", batch_size=2)  # two requests
    assert list(predicted.index) == [10, 20, 30]
    assert list(predicted.columns) == ["label", "score", "p_negative", "p_positive", "model_version"]
    expected = client.predict(frame["review"].tolist())
    assert predicted["label"].tolist() == [p.label for p in expected]
    joined = frame.join(predicted.add_prefix("predicted_"))
    assert joined["label"].tolist() == ["pos", "neg", "neg"] and "predicted_label" in joined.columns


def test_a_missing_column_names_the_columns_there_are(client):
    with pytest.raises(KeyError, match="no column 'text'.*review"):
        client.predict_frame(pandas.DataFrame({"review": ["w1"]}))


def test_a_frame_uploads_as_examples(client, examples):
    frame = pandas.DataFrame(examples(60, seed=9))
    dataset = client.upload(frame)
    assert dataset.examples == 60 and set(dataset.label_counts) == {"negative", "positive"}
