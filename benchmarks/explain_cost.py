"""What one /v1/explain costs: the bundled model explaining a 20-word sentence, on 1 thread, in-process.

~100 different SST-2 dev sentences, each cut to its first 20 words (a word as /v1/explain counts
them: punctuation marks are words). For each: the model call alone (the text and its 20 variants,
21 sequences in one ``predict_ids``), and end to end (tokenising with offsets, building the
variants, the model call, the weights), median and p90; and one plain prediction of the same
sentence for scale. Target: < 20 ms end to end.

    python benchmarks/explain_cost.py
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

import torch  # noqa: E402

from model import Predictor, load_dataset  # noqa: E402
from model.inference.explain import Occlusion  # noqa: E402

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
    parser.add_argument("--words", type=int, default=20)
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the sentences; the best of each is kept")
    args = parser.parse_args()
    torch.set_num_threads(1)

    predictor = Predictor.load(args.model)
    predictor.warm_up()
    tokenizer = predictor.tokenizer
    texts = []
    for text in load_dataset(args.data).texts:
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
            predictions = predictor.predict_ids(inputs)
            t2 = time.perf_counter()
            occlusion.explain(predictions)
            t3 = time.perf_counter()
            predictor.predict([text])
            t4 = time.perf_counter()
            model_s[i].append(t2 - t1)
            total_s[i].append(t3 - t0)
            predict_s[i].append(t4 - t3)
    best = [min(x) for x in model_s], [min(x) for x in total_s], [min(x) for x in predict_s]
    tokens = statistics.fmean(len(tokenizer.encoding(t).ids) for t in texts)
    print(
        f"{len(texts)} SST-2 dev sentences cut to {args.words} words ({tokens:.1f} tokens on average), "
        f"1 torch thread, the best of {args.rounds} rounds per sentence"
    )
    print(f"explain, model call only ({args.words + 1} sequences): {ms(best[0])}")
    print(f"explain, end to end (tokenise + variants + model + weights): {ms(best[1])}  (target < 20 ms)")
    print(f"predict, the same sentence alone, for scale: {ms(best[2])}")


if __name__ == "__main__":
    main()
