"""The two backends through HTTP: the same texts to a server on NumPy and one on torch, the same answers?

Starts ``python -m app`` twice on the bundled model (``SENTIMENT_BACKEND=numpy`` and ``=torch``; or
``--model-dir``), sends the same ``--n`` sentences (the ``--data`` TSV's last column, SST-2's dev set
by default; else the texts of ``unseen.py``) and ``--long`` texts of several windows each (sentences
joined) through ``POST /v1/predict``, ``--batch`` texts a request, and prints the largest absolute
difference between the two servers' probabilities, how many labels and window counts differ, the
commit and the weights' checksum. The acceptance check of issue 24 is a difference <= 1e-4.

    python benchmarks/backends_http.py --n 500
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import ROOT, Server, commit_of, load_sentences, weights_sha256  # noqa: E402
from unseen import unseen_texts  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"
BUNDLED = ROOT / "model" / "bundled" / "sentiment-en"
TOLERANCE = 1e-4


def texts_for(data: Path, n: int, long: int) -> tuple[list[str], str]:
    """``n`` sentences and ``long`` texts of 60 of them joined (several windows each), and their source."""
    sentences, source = load_sentences(data, n) if data.is_file() else ([], "")
    if len(sentences) < n:
        sentences, source = unseen_texts(n)
    joined = [" ".join(sentences[(i * 60 + j) % len(sentences)] for j in range(60)) for i in range(long)]
    return sentences[:n] + joined, source


def predict_all(url: str, texts: list[str], batch: int) -> list[dict]:
    answers = []
    for start in range(0, len(texts), batch):
        body = json.dumps({"texts": texts[start : start + batch]}).encode()
        request = urllib.request.Request(url + "/v1/predict", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            answers += json.loads(response.read())["predictions"]
    return answers


def compare(a: list[dict], b: list[dict]) -> dict:
    """The largest probability difference and the number of labels and window counts that differ."""
    diffs = [abs(p["probabilities"][label] - q["probabilities"][label])
             for p, q in zip(a, b, strict=True) for label in p["probabilities"]]
    return {"max_abs_diff": max(diffs), "labels_differ": sum(p["label"] != q["label"] for p, q in zip(a, b)),
            "windows_differ": sum(p["windows"] != q["windows"] for p, q in zip(a, b)),
            "max_windows": max(p["windows"] for p in a)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=500, help="sentences (default 500)")
    p.add_argument("--long", type=int, default=4, help="texts of several windows each, besides (default 4)")
    p.add_argument("--batch", type=int, default=16, help="texts per request (default 16)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="TSV, text in the last column (default SST-2 dev)")
    p.add_argument("--model-dir", type=Path, default=BUNDLED)
    args = p.parse_args(argv)
    texts, source = texts_for(args.data, args.n, args.long)
    print(f"{ROOT.name} at {commit_of(ROOT)}; model {args.model_dir.name} (weights sha256 "
          f"{weights_sha256(args.model_dir)[:12]}); {args.n} sentences from {source} + {args.long} long texts, "
          f"{args.batch} a request")
    answers = {}
    with tempfile.TemporaryDirectory(prefix="backends-http-") as tmp:
        for backend in ("numpy", "torch"):
            server = Server({"SENTIMENT_BACKEND": backend, "SENTIMENT_DATA_DIR": str(Path(tmp) / backend),
                             "SENTIMENT_MODEL_DIR": str(args.model_dir), "SENTIMENT_LOG_LEVEL": "warning",
                             "SENTIMENT_ACCESS_LOG": "false"}, Path(tmp) / f"{backend}.log")
            try:
                with urllib.request.urlopen(server.url + "/readyz", timeout=5) as response:
                    assert json.loads(response.read())["backend"] == backend
                answers[backend] = predict_all(server.url, texts, args.batch)
            finally:
                server.stop()
    sentences = compare(answers["numpy"][: args.n], answers["torch"][: args.n])
    every = compare(answers["numpy"], answers["torch"])
    print(f"  {args.n} sentences: max |p_numpy - p_torch| = {sentences['max_abs_diff']:.2e}; "
          f"labels differing: {sentences['labels_differ']}")
    print(f"  with the {args.long} long texts (up to {every['max_windows']} windows): max difference "
          f"{every['max_abs_diff']:.2e}; labels differing {every['labels_differ']}; window counts differing "
          f"{every['windows_differ']}")
    ok = every["max_abs_diff"] <= TOLERANCE and every["windows_differ"] == 0
    print(f"  {'PASS' if ok else 'FAIL'}: difference <= {TOLERANCE:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
