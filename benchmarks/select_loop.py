"""The labelling loop, simulated: does picking what to label by uncertainty beat picking at random?

The bundled English model (SST-2: movie reviews) meets a domain it was not trained on (Amazon
product-review sentences, from vaderSentiment's sdist, as ``warm_start.py`` fetches them). A fixed
test set of 1,000 is held out; from the rest (the pool), each strategy of ``POST
/v1/models/{name}/select`` (the same ``choose`` and ``uncertainty`` functions, ``app/serving/select.py``)
picks k texts, their gold labels stand for a person's, and the bundled model is warm-started on them
(as a job from ``/v1/models/{name}/feedback``'s dataset would be). Printed: test accuracy against k
for each strategy, the untrained model's, and the mean confidence of each pick.

    python benchmarks/select_loop.py --sizes 50 200 800 --seeds 2
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from warm_start import BUNDLED, DEFAULT_CACHE, SPLIT_SEED, amazon, dataset, deduplicated, run_one, test_metrics  # noqa: E402

from app.serving.select import STRATEGIES, choose, uncertainty  # noqa: E402
from model import Predictor, load_bundle  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 800])
    ap.add_argument("--seeds", type=int, default=2, help="training seeds (and random picks) per point")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    examples = deduplicated(amazon(args.cache))
    random.Random(SPLIT_SEED).shuffle(examples)
    test, pool = dataset(examples[:1000], "amazon-test"), examples[1000:]
    base = load_bundle(BUNDLED)
    predictor = Predictor.load(BUNDLED)
    gold = [y for _, y in pool]
    untrained = test_metrics(base.model, base.tokenizer, base.labels, test)
    print(f"Amazon product-review sentences: pool {len(pool):,}, test {len(test):,}; the bundled model untrained: "
          f"test accuracy {untrained['accuracy']:.4f}")
    predictions = predictor.predict([t for t, _ in pool])
    scored = [(uncertainty(p, None), i, p) for i, p in enumerate(predictions)]
    print(f"{'k':>5} {'strategy':<12} {'mean confidence':>16} {'test accuracy (mean of seeds)':>30}")
    for k in args.sizes:
        for strategy in STRATEGIES:
            accuracies, confidence = [], []
            for seed in range(args.seeds):
                chosen = choose(scored, k, strategy, seed)
                confidence.append(statistics.fmean(p.score for _, _, p in chosen))
                picked = dataset([(pool[i][0], gold[i]) for _, i, _ in chosen], f"{strategy}-{k}")
                if len(set(picked.labels)) < 2:
                    accuracies.append(float("nan"))
                    continue
                result, _ = run_one(picked, 13 + seed, args.threads, base=load_bundle(BUNDLED))
                accuracies.append(test_metrics(result.model, result.tokenizer, result.model_config.labels, test)["accuracy"])
            shown = ", ".join(f"{a:.4f}" for a in accuracies)
            print(f"{k:>5} {strategy:<12} {statistics.fmean(confidence):>16.3f} "
                  f"{statistics.fmean(accuracies):>10.4f} ({shown})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
