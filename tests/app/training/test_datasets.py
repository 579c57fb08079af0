"""POST/GET/DELETE /v1/datasets: validation with line numbers, content-hash identity, summaries."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.support.api import upload
from tests.support.data import csv_bytes
from tests.support.settings import AUTH, make_settings


@pytest.fixture
def client(tiny_bundle_path, tmp_path, monkeypatch):
    for name in [n for n in __import__("os").environ if n.startswith("SENTIMENT_")]:
        monkeypatch.delenv(name)
    settings = make_settings(tiny_bundle_path, tmp_path / "data", max_dataset_bytes=64 * 1024)
    with TestClient(create_app(settings)) as c:
        yield c


def test_upload_csv_summarises_and_stores_by_content(client, tmp_path):
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("train.csv", csv_bytes(200))})
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["examples"] == 200
    assert set(ds["label_counts"]) == {"neg", "pos"} and sum(ds["label_counts"].values()) == 200
    assert ds["length_words"]["min"] >= 3 and ds["length_chars"]["max"] > ds["length_chars"]["min"]
    assert (tmp_path / "data" / "datasets" / f"{ds['id']}.csv").read_bytes() == csv_bytes(200)
    again = client.post("/v1/datasets", headers=AUTH, files={"file": ("copy.csv", csv_bytes(200))})
    assert again.status_code == 200 and again.json()["id"] == ds["id"]
    assert [d["id"] for d in client.get("/v1/datasets").json()] == [ds["id"]]
    assert client.get(f"/v1/datasets/{ds['id']}").json()["examples"] == 200


def test_summary_counts_duplicates_and_conflicting_labels(client):
    body = {"examples": [{"text": "fine film", "label": "pos"}, {"text": "fine film", "label": "pos"},
                         {"text": "odd film", "label": "pos"}, {"text": "odd film", "label": "neg"},
                         {"text": "bad film", "label": "neg"}]}
    r = client.post("/v1/datasets", headers=AUTH, json=body)
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["examples"] == 5 and ds["duplicate_texts"] == 2 and ds["conflicting_texts"] == 1
    assert ds["label_counts"] == {"neg": 2, "pos": 3}


def test_tsv_and_jsonl_with_custom_columns(client):
    tsv = b"sentence\tpolarity\nnice one\t1\nawful one\t0\n"
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("d.tsv", tsv)},
                    data={"text_column": "sentence", "label_column": "polarity"})
    assert r.status_code == 201, r.text
    assert r.json()["text_column"] == "sentence" and r.json()["label_column"] == "polarity"
    jsonl = b'{"review": "nice", "stars": "5"}\n{"review": "bad", "stars": "1"}\n'
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("d.jsonl", jsonl)},
                    data={"text_column": "review", "label_column": "stars"})
    assert r.status_code == 201 and r.json()["label_counts"] == {"1": 1, "5": 1}


BAD_UPLOADS = [
    ("empty.csv", b"", "empty.csv:1", "empty"),
    ("notext.csv", b"review,label\ngood,pos\n", "notext.csv:1", "missing text column"),
    ("blank.csv", b"text,label\ngood,pos\n   ,neg\n", "blank.csv:3", "empty text"),
    ("bytes.csv", b"text,label\ngood,pos\nbad \xff,neg\n", "bytes.csv:3", "UTF-8"),
    ("fields.tsv", b"text\tlabel\ngood\tpos\tx\n", "fields.tsv:2", "fields"),
    ("broken.jsonl", b'{"text": "a", "label": "x"}\n{"text": \n', "broken.jsonl:2", "JSON"),
    ("quote.csv", 'text,label\n"酒店不错 “,positive\n质量很差,negative\n书的"包装"很好,positive\n'.encode(),
     "quote.csv:2", "unbalanced"),
    ("noheader.csv", b"a gorgeous movie,1\na tedious mess,0\nwitty,1\n", "noheader.csv:1", "looks like data"),
]


@pytest.mark.parametrize("name,content,where,why", BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
def test_malformed_upload_is_422_with_line_and_stores_nothing(client, tmp_path, name, content, where, why):
    r = client.post("/v1/datasets", headers=AUTH, files={"file": (name, content)})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_dataset"
    assert where in body["message"] and why in body["message"]
    assert body["details"][0]["line"] == int(where.split(":")[1])
    assert client.get("/v1/datasets").json() == []
    assert list((tmp_path / "data" / "datasets").iterdir()) == []


@pytest.mark.parametrize("files,data,json_body,status,error", [
    ({"file": ("x.txt", b"text,label\na,b\n")}, None, None, 422, "unknown_format"),
    ({"other": ("x.csv", b"text,label\na,b\n")}, None, None, 422, "missing_file"),
    (None, None, {"examples": []}, 422, "validation_error"),
    (None, None, {"examples": [{"text": "a", "label": "b", "extra": 1}]}, 422, "validation_error"),
    (None, None, {"examples": [{"text": "  ", "label": "b"}]}, 422, "invalid_dataset"),
])
def test_bad_upload_requests(client, files, data, json_body, status, error):
    r = client.post("/v1/datasets", headers=AUTH, files=files, data=data, json=json_body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == error


def test_wrong_content_type_is_415(client):
    r = client.post("/v1/datasets", headers=AUTH | {"content-type": "text/csv"}, content=b"text,label\n")
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"


def test_dataset_over_the_size_limit_is_413(client):
    big = b"text,label\n" + b"".join(b"x" * 60 + b",pos\n" for _ in range(1500))
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("big.csv", big)})
    assert r.status_code == 413, r.text
    assert r.json()["error"] == "payload_too_large"
    assert client.get("/v1/datasets").json() == []


def test_delete_dataset(client, tmp_path):
    ds = upload(client)
    assert client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH).status_code == 204
    assert client.get(f"/v1/datasets/{ds['id']}").status_code == 404
    assert client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH).status_code == 404
    assert list((tmp_path / "data" / "datasets").iterdir()) == []


def test_unknown_dataset_is_404_json(client):
    r = client.get("/v1/datasets/nope")
    assert r.status_code == 404 and json.loads(r.text)["error"] == "not_found"


# Issue 10: with the csv module's quoting rules this TSV parsed as 2 examples, and the upload said 201.
PRINTF_TSV = 'text\tlabel\n"酒店不错 “\tpositive\n质量很差\tnegative\n物流很快\tpositive\n书的"包装"很好\tpositive\n太失望了\tnegative\n'


def test_tsv_upload_keeps_every_line_and_says_how_many_were_read(client):
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("reviews.tsv", PRINTF_TSV.encode())})
    assert r.status_code == 201, r.text
    ds = r.json()
    assert (ds["rows_read"], ds["examples"], ds["dropped"], ds["encoding"]) == (5, 5, {}, "utf-8")
    assert ds["label_counts"] == {"negative": 2, "positive": 3}


def test_upload_reports_blank_lines_and_the_encoding(client):
    content = PRINTF_TSV.replace("质量很差", "\n质量很差").replace("太失望了", "  \n太失望了")
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("gbk.tsv", content.encode("gbk"))})
    assert r.status_code == 201, r.text
    ds = r.json()
    assert (ds["rows_read"], ds["examples"], ds["dropped"], ds["encoding"]) == (7, 5, {"blank_lines": 2}, "gb18030")
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("u16.tsv", PRINTF_TSV.encode("utf-16"))})
    assert r.status_code == 201 and r.json()["encoding"] == "utf-16" and r.json()["examples"] == 5


def test_multipart_upload_with_a_sentence_column(client):
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("sst.tsv", b"sentence\tlabel\nnice one\t1\nawful\t0\n")})
    assert r.status_code == 201, r.text
    assert r.json()["text_column"] == "sentence" and r.json()["examples"] == 2


def test_headerless_upload_with_columns_stores_the_file_with_its_header(client, tmp_path):
    raw = b"1,a gorgeous movie\n0,a tedious mess\n1,witty\n"
    r = client.post("/v1/datasets", headers=AUTH, files={"file": ("plain.csv", raw)}, data={"columns": "label, text"})
    assert r.status_code == 201, r.text
    ds = r.json()
    assert (ds["examples"], ds["rows_read"], ds["label_counts"]) == (3, 3, {"0": 1, "1": 2})
    stored = tmp_path / "data" / "datasets" / f"{ds['id']}.csv"
    assert stored.read_bytes() == b"label,text\n" + raw  # re-read later (by training) like any file with a header
    bad = client.post("/v1/datasets", headers=AUTH, files={"file": ("plain.csv", raw + b"odd,row,here\n")},
                      data={"columns": "label,text"})
    assert bad.status_code == 422 and bad.json()["message"].startswith("plain.csv:4: ")  # the line as uploaded


def test_summary_measures_chinese_text_in_tokens_and_names_its_scripts(client):
    examples = [{"text": "这部电影非常好看，演员的表演很出色。", "label": "pos"},
                {"text": "剧情拖沓，浪费了两个小时。", "label": "neg"},
                {"text": "这个movie太boring了", "label": "neg"}]
    r = client.post("/v1/datasets", headers=AUTH, json={"examples": examples})
    assert r.status_code == 201, r.text
    ds = r.json()
    assert ds["length_words"]["median"] == 1  # no spaces: one "word" each, which says nothing
    assert ds["length_tokens"] == {"min": 6, "mean": 12.33, "median": 13, "max": 18}  # one per character or word
    assert all(isinstance(v, float) for v in ds["length_tokens"].values())  # 13.0, never sometimes 13
    assert ds["length_chars"]["max"] == 18
    assert list(ds["scripts"]) == ["han", "latin"] and ds["scripts"]["han"] > 0.6
    # the length to read counts characters here, and says so
    assert ds["length"] == {"unit": "characters", **ds["length_chars"]} and ds["length"]["median"] == 15.0


def test_summary_length_counts_words_for_text_written_with_spaces_every_figure_a_float(client):
    examples = [{"text": "a gorgeous, witty film", "label": "p"}, {"text": "dull", "label": "n"},
                {"text": "not bad at all", "label": "p"}, {"text": "fine film", "label": "n"}]
    r = client.post("/v1/datasets", headers=AUTH, json={"examples": examples})
    assert r.status_code == 201, r.text
    length = r.json()["length"]
    assert length == {"unit": "words", "min": 1.0, "mean": 2.75, "median": 3.0, "max": 4.0}
    assert all(isinstance(length[k], float) for k in ("min", "mean", "median", "max"))
    assert client.get(f"/v1/datasets/{r.json()['id']}").json()["length"] == length  # listed as uploaded


def test_a_summary_stored_before_length_existed_gets_it_from_its_figures():
    from app.training.datasets import length

    old = {"length_chars": {"min": 6, "mean": 12.33, "median": 13, "max": 18},
           "length_words": {"min": 1, "mean": 1.0, "median": 1, "max": 1}}
    assert length(old | {"scripts": {"han": 0.9, "latin": 0.1}}) == {
        "unit": "characters", "min": 6.0, "mean": 12.33, "median": 13.0, "max": 18.0}
    assert length(old | {"scripts": None})["unit"] == "words"  # stored before scripts were counted


def test_summary_of_english_text_counts_words_and_punctuation_as_tokens(client):
    r = client.post("/v1/datasets", headers=AUTH, json={"examples": [{"text": "a gorgeous, witty film", "label": "p"}]})
    assert r.status_code == 201, r.text
    assert r.json()["length_tokens"]["max"] == 5 and r.json()["length_words"]["max"] == 4
    assert r.json()["scripts"] == {"latin": 1.0}


def test_a_dataset_whose_file_is_gone_is_410_not_500(client, tmp_path):
    from tests.support.api import TINY_CONFIG

    ds = upload(client)
    (tmp_path / "data" / "datasets" / f"{ds['id']}.csv").unlink()
    r = client.post("/v1/train-jobs", headers=AUTH, json={"dataset_id": ds["id"], "config": TINY_CONFIG})
    assert r.status_code == 410, r.text
    assert r.json()["error"] == "dataset_gone" and ds["id"] in r.json()["message"]
    r = client.post("/v1/models/sentiment-en/compare", headers=AUTH, json={"dataset_id": ds["id"], "versions": ["bundled", "v1"]})
    assert r.status_code == 410 and r.json()["error"] == "dataset_gone"
    assert client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH).status_code == 204


def test_an_upload_of_more_rows_than_allowed_is_refused_before_it_is_parsed(tiny_bundle_path, tmp_path):
    settings = make_settings(tiny_bundle_path, tmp_path / "rows", max_dataset_rows=100)
    with TestClient(create_app(settings)) as client:
        tiny_rows = b"text,label\n" + b"a,1\n" * 150  # 151 lines
        r = client.post("/v1/datasets", headers=AUTH, files={"file": ("many.csv", tiny_rows)})
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "too_many_rows" and "SENTIMENT_MAX_DATASET_ROWS" in r.json()["message"]
        assert client.get("/v1/datasets").json() == []
        assert upload(client, b"text,label\n" + b"a,1\nb,0\n" * 49)["examples"] == 98  # 99 lines: accepted
