"""The docs' HTTP examples work as written: every shell block of the README and docs/ that talks to
the service (``localhost:8000``) runs, verbatim, with the real ``curl`` against a real server.

Each page's blocks run in order as one bash script (a block may use what an earlier one set, as a
reader's terminal would: the README's ``DATASET=$(curl ...)`` then ``JOB=$(curl ...)``), with
``set -euo pipefail`` and ``curl --fail-with-body``, so that a 4xx or 5xx answer, or any failing
step, fails the test and shows the answer. Variables a page uses without setting (``$DATASET``,
``$BATCH``, ``$FEEDBACK``, ``$ACTIVE``) are set beforehand to a dataset, a finished batch job and
the feedback's dataset made here. Blocks that run other tools (docker, pip) are not run here.
"""

from __future__ import annotations

import os
import re
import subprocess

import httpx
import pytest

from tests.support.server import ROOT, running_server
from tests.support.settings import AUTH, KEY
from tests.support.waiting import wait_for

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def service_blocks(text: str) -> list[str]:
    """The shell blocks that talk to the service and run nothing but curl (and shell variables)."""
    blocks = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        if "localhost:8000" not in block:
            continue
        if any(tool in block for tool in ("docker ", "pip ", "kubectl ", "podman ", "sentiment ")):
            continue
        blocks.append(block)
    return blocks


REVIEWS = "text,label\n" + "".join(
    f'"{text} {i}",{label}\n'
    for i in range(12)
    for text, label in (("a gorgeous, witty film", "positive"), ("the plot is a mess, a dull film", "negative"))
)
REVIEWS_ZH = "text,label\n" + "".join(
    f'"{text}{i}",{label}\n' for i in range(12) for text, label in (("这个东西很好用", 1), ("质量太差了，不推荐", 0))
)


def _ready_batch(http: httpx.Client, dataset: str) -> str:
    r = http.post("/v1/batch-jobs", headers=AUTH, json={"dataset_id": dataset, "model": "sentiment-en"})
    assert r.status_code == 202, r.text
    batch = r.json()["id"]
    wait_for(lambda: http.get(f"/v1/batch-jobs/{batch}").json()["state"] == "succeeded", timeout=120,
             what="the batch job")
    return batch


@pytest.mark.parametrize("page", [p for p in PAGES if service_blocks(p.read_text(encoding="utf-8"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_the_pages_http_examples_run_against_a_real_server(page, tiny_bundle_path, tmp_path):
    work = tmp_path / "work"  # the reader's directory: ./data is the server's, reviews.csv their file
    (work / "data").mkdir(parents=True)
    (work / "data" / "local-api-key").write_text(KEY + "\n")
    (work / "reviews.csv").write_text(REVIEWS_ZH if "reviews-zh" in page.read_text(encoding="utf-8") else REVIEWS)
    with running_server(data_dir=work / "data", model_dir=tiny_bundle_path, api_keys=KEY) as server, \
            httpx.Client(base_url=server.url, timeout=60) as http:
        r = http.post("/v1/datasets", headers=AUTH, files={"file": ("reviews.csv", (work / "reviews.csv").read_bytes())})
        assert r.status_code in (200, 201), r.text
        dataset = r.json()["id"]
        items = [{"text": f"the battery died in a day {i}", "label": "negative"} for i in range(10)] + \
                [{"text": f"works great, a lovely thing {i}", "label": "positive"} for i in range(10)]
        assert http.post("/v1/models/sentiment-en/feedback", headers=AUTH, json={"items": items}).status_code == 200
        feedback = http.get("/v1/models/sentiment-en/feedback").json()["dataset_id"]
        batch = _ready_batch(http, dataset)
        preamble = "\n".join([
            "set -euo pipefail",
            'curl() { command curl --fail-with-body --max-time 300 "$@"; }',
            "KEY=" + KEY, 'AUTH="Authorization: Bearer $KEY"', "JSON='content-type: application/json'",
            f"DATASET={dataset}", f"BATCH={batch}", f"FEEDBACK={feedback}", "ACTIVE=bundled",
        ])
        script = "\n\n".join([preamble, *service_blocks(page.read_text(encoding="utf-8"))])
        script = script.replace("localhost:8000", f"127.0.0.1:{server.port}")
        run = subprocess.run(["bash", "-c", script], cwd=work, capture_output=True, text=True, timeout=600,
                             env={k: v for k, v in os.environ.items() if not k.startswith("SENTIMENT_")})
        assert run.returncode == 0, f"{page.name}'s examples failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        if page.name == "README.md":  # its job trained and its activations were answered
            versions = http.get("/v1/models/sentiment-en/versions").json()["versions"]
            assert "v1" in [v["version"] for v in versions]
            assert '"state":"succeeded"' in run.stdout.replace(" ", "")
        if page.name == "http-api.md":  # the CLI's forms of the hyperparameters were accepted
            jobs = http.get("/v1/train-jobs").json()
            zh = [j for j in jobs if j.get("model") == "reviews-zh"]
            assert zh and zh[0]["config"]["label_names"] == {"0": "负面", "1": "正面"}
            assert zh[0]["config"]["pretrained"] is None
