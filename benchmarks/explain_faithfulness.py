"""Are /v1/explain's word weights faithful? ERASER comprehensiveness on SST-2 dev (DeYoung et al. 2020).

For each sentence, the bundled model's explanation (``model/explain.py``, occlusion) ranks its
words; deleting the top 20 % of them (at least one word) should lower the probability of the
predicted label far more than deleting as many words picked at random (the mean over a few seeded
draws). Prints both mean drops and their ratio (target: top >= 2x random).

    python benchmarks/explain_faithfulness.py                     # 200 dev sentences, 20 %, 5 random draws
    python benchmarks/explain_faithfulness.py --fraction 0.1 --sentences 872
"""

from __future__ import annotations

import argparse
import random
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


def deleted(occlusion: Occlusion, chosen: set[int]) -> list[int]:
    """The sentence's ids without the tokens of the words ``chosen`` (indices into its words)."""
    drop = {t for i in chosen for t in range(occlusion.words[i].first, occlusion.words[i].last)}
    return [t for i, t in enumerate(occlusion.ids) if i not in drop] or [occlusion.unk_id]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DEV)
    parser.add_argument("--model", type=Path, default=BUNDLED)
    parser.add_argument("--sentences", type=int, default=200)
    parser.add_argument("--fraction", type=float, default=0.2, help="share of the words deleted (at least one)")
    parser.add_argument("--draws", type=int, default=5, help="random deletions per sentence, averaged")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    torch.set_num_threads(1)

    predictor = Predictor.load(args.model)
    texts = load_dataset(args.data).texts[: args.sentences]
    rng = random.Random(args.seed)
    start = time.perf_counter()
    top_drops, random_drops, lengths = [], [], []
    for text in texts:
        occlusion = Occlusion.of(predictor.tokenizer, text)
        explanation = occlusion.explain(predictor.predict_ids(occlusion.inputs()))
        n = len(occlusion.words)
        k = max(1, round(args.fraction * n))
        ranked = sorted(range(n), key=lambda i: -explanation.words[i].weight)
        chosen = [set(ranked[:k])] + [set(rng.sample(range(n), k)) for _ in range(args.draws)]
        probs = predictor.predict_ids([deleted(occlusion, c) for c in chosen])
        after = [p.probabilities[explanation.label] for p in probs]
        top_drops.append(explanation.score - after[0])
        random_drops.append(explanation.score - statistics.fmean(after[1:]))
        lengths.append(n)
    seconds = time.perf_counter() - start

    top, rand = statistics.fmean(top_drops), statistics.fmean(random_drops)
    print(
        f"{len(texts)} SST-2 dev sentences ({args.data.name}), {statistics.fmean(lengths):.1f} words on average; "
        f"deleting {args.fraction:.0%} of the words (at least 1), random: mean of {args.draws} seeded draws"
    )
    print(f"comprehensiveness, mean drop of p(predicted label): top-weighted words {top:.4f}, random words {rand:.4f}")
    print(
        f"ratio top / random: {top / rand:.2f}x (target >= 2x); "
        f"top drop > random drop in {sum(t > r for t, r in zip(top_drops, random_drops))}/{len(texts)} sentences; "
        f"{seconds:.1f} s on 1 thread"
    )


if __name__ == "__main__":
    main()
