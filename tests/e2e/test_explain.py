"""/v1/explain on a real server (its model process) serving the bundled SST-2 model."""

from __future__ import annotations

import httpx

from tests.support.long_reviews import BUNDLED


def test_the_bundled_model_explains_a_review(serve):
    server = serve(model_dir=BUNDLED)
    text = "  The plot is a mess, but the acting is wonderful."
    with httpx.Client(base_url=server.url, timeout=30) as client:
        r = client.post("/v1/explain", json={"text": text})
        assert r.status_code == 200, r.text
        body = r.json()
        predicted = client.post("/v1/predict", json={"text": text}).json()["predictions"][0]
    assert body["model_version"] == "bundled" and body["method"] == "occlusion-log-odds"
    assert body["label"] == predicted["label"] == "positive"
    assert abs(body["score"] - predicted["score"]) < 1e-6
    words = [t["text"] for t in body["tokens"]]
    assert words == ["The", "plot", "is", "a", "mess", ",", "but", "the", "acting", "is", "wonderful", "."]
    assert all(text[t["start"] : t["end"]] == t["text"] for t in body["tokens"])
    weights = {t["text"]: t["weight"] for t in body["tokens"]}
    assert max(weights, key=weights.get) == "wonderful"
    assert weights["mess"] < 0  # it speaks against the positive label


# a shopping review of 367 characters (365 tokens: two windows of 256), 235 words as jieba segments it
REVIEW_ZH = "  " + "".join([
    "这家店的快递很快，第二天就到了，包装也很结实。", "苹果很甜很新鲜，个头均匀，家里的孩子都很喜欢吃。",
    "客服的态度非常好，有问题都会耐心地解答。", "价格比超市便宜不少，性价比很高，下次还会再来买。",
    "不过有两个苹果有一点碰伤，希望以后能注意一下包装。", "总的来说这次购物体验非常满意，推荐给大家！",
] * 2 + ["这家店的快递很快，第二天就到了，包装也很结实。", "苹果很甜很新鲜，个头均匀，家里的孩子都很喜欢吃。",
         "客服的态度非常好，有问题都会耐心地解答。", "价格比超市便宜不少，性价比很高，下次还会再来买。"])


def test_a_long_chinese_review_is_explained_word_by_word(serve):
    """More characters than the old per-character limit (256) and than the model's window: explained by
    its two windows, jieba's words (苹果 one word), offsets into the text as sent."""
    assert len(REVIEW_ZH) > 336
    server = serve(model_dir=BUNDLED)
    with httpx.Client(base_url=server.url, timeout=60) as client:
        r = client.post("/v1/models/sentiment-zh/explain", json={"text": REVIEW_ZH})
        assert r.status_code == 200, r.text
        body = r.json()
        predicted = client.post("/v1/models/sentiment-zh/predict", json={"text": REVIEW_ZH}).json()["predictions"][0]
    assert body["model"] == "sentiment-zh" and body["method"] == "occlusion-log-odds"
    assert body["windows"] == predicted["windows"] == 2 and "excerpt" not in body
    assert body["label"] == predicted["label"] == "positive"
    assert abs(body["score"] - predicted["score"]) < 1e-5
    assert set(body["tokens"][0]) == {"text", "start", "end", "weight"}
    assert all(REVIEW_ZH[t["start"] : t["end"]] == t["text"] for t in body["tokens"])
    assert body["tokens"][0]["start"] == 2 and len(body["tokens"]) == 235
    words = [t["text"] for t in body["tokens"]]
    assert "苹果" in words and "苹" not in words
    weights = {t["text"]: t["weight"] for t in body["tokens"]}
    assert weights["满意"] > 0  # satisfied: for the positive label
