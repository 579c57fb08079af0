"""The web page in a real browser: Playwright drives Debian's chromium against a real server.

Needs the ``playwright`` package (in the ``dev`` extra, whose driver talks to the browser) and a ``chromium`` executable on the PATH (``apt-get install -y
chromium``); Playwright's own browser downloads are never used. Without either the tests skip
and say which is missing, unless ``REQUIRE_BROWSER=1`` (as ``.ci/run`` sets it), where they
fail. Any console error, page error or dialog fails a test (a CSP violation is a console error;
an XSS payload that ran would open a dialog). Screenshots of the tabs go to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.support.api import upload, wait_job
from tests.support.data import csv_bytes
from tests.support.server import ROOT, start_server
from tests.support.settings import AUTH, KEY

pytestmark = pytest.mark.slow
ARTIFACTS = ROOT / "test-artifacts" / "browser"
XSS = "<img src=x onerror=alert(1)>"
# One epoch over 5,000 examples in batches of 2: about 4 s of training on the 2-core development
# machine, so that the curve visibly gains points while the job runs (progress comes twice a second).
FAST_CONFIG = {"epochs": "1", "batch_size": "2", "embedding_dim": "16", "hidden_size": "32", "tokenizer": "word",
               "pretrained": "", "pooling": "max"}
# A second model for the picker, top-k and wide confusion matrices: ten topics, each told by one keyword.
TOPICS = ("sports", "politics", "science", "business", "health", "travel", "music", "cinema", "food", "technology")
TOPICS_CONFIG = {"epochs": 2, "batch_size": 16, "embedding_dim": 16, "hidden_size": 32, "tokenizer": "word",
                 "pretrained": None, "pooling": "max"}


def topics_csv(n: int = 1000, seed: int = 1) -> bytes:
    """Filler words around one keyword ("sportsword") that decides the label ("sports")."""
    rng = random.Random(seed)
    rows = ["text,label"]
    for _ in range(n):
        topic = rng.choice(TOPICS)
        words = rng.choices([f"w{i}" for i in range(12)], k=rng.randint(2, 5))
        words.insert(rng.randint(0, len(words)), f"{topic}word")
        rows.append(f'"{" ".join(words)}",{topic}')
    return ("\n".join(rows) + "\n").encode()


def _missing() -> list[str]:
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the Python package 'playwright' (pip install -e '.[dev]')")
    if shutil.which("chromium") is None:
        missing.append("a 'chromium' executable on the PATH (apt-get install -y chromium)")
    return missing


@pytest.fixture(scope="module")
def browser():
    missing = _missing()
    if missing:
        message = "browser test needs " + " and ".join(missing)
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message + " (REQUIRE_BROWSER=1)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    """The service on the bundled model, with the test key; one for the module's tests."""
    server = start_server(data_dir=tmp_path_factory.mktemp("browser") / "data", api_keys=KEY)
    yield server
    server.stop()


class Watched:
    """A page whose console errors, page errors and dialogs are collected; ``check`` fails on any."""

    def __init__(self, page):
        self.page, self.problems = page, []
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        self.problems.append(f"a dialog opened: {dialog.type} {dialog.message!r}")
        dialog.dismiss()

    def check(self):
        assert self.problems == []


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    watched = Watched(page)
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready=true]")
    yield watched
    context.close()
    watched.check()


@pytest.fixture(scope="module")
def topics(server):
    """A second model, "topics", of ten labels and two versions (v1 served), trained over HTTP as the page would."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        dataset = upload(client, topics_csv(), name="topics.csv")
        for _ in range(2):
            r = client.post("/v1/train-jobs", headers=AUTH,
                            json={"dataset_id": dataset["id"], "model": "topics", "config": TOPICS_CONFIG})
            assert r.status_code == 202, r.text
            job = wait_job(client, r.json()["id"], timeout=180)
            assert job["state"] == "succeeded", job
        r = client.get("/v1/models/topics")
        assert r.status_code == 200, r.text
        assert r.json()["active_version"] == "v1" and r.json()["versions"] == ["v2", "v1"], r.json()
    return "topics"


def _use_key(page):
    page.get_by_test_id("api-key-input").fill(KEY)
    page.get_by_test_id("api-key-save").click()
    page.wait_for_function("() => !document.querySelector('[data-testid=upload-input]').disabled")


def _tab(page, name):
    page.get_by_test_id(f"tab-{name}").click()
    page.wait_for_selector(f"#panel-{name}:not([hidden])")


def _screenshot(page, name):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _upload(page, path: Path) -> str:
    """Upload ``path`` on the Data tab; the new dataset's id, once its summary shows."""
    _tab(page, "data")
    page.get_by_test_id("upload-input").set_input_files(str(path))
    page.wait_for_selector(f"#dataset-summary h2:text-is('Uploaded {path.name}')")
    return _summary_id(page)


def _fill_job_form(page, dataset_id: str, config: dict[str, str]) -> None:
    """The Train tab's form: the dataset, and ``config`` typed into the generated fields."""
    _tab(page, "train")
    page.get_by_test_id("job-dataset_id").select_option(dataset_id)
    page.get_by_test_id("config-open").click()
    for name, value in config.items():
        field = page.get_by_test_id(f"config-{name}")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)


def _summary_id(page) -> str:
    return page.get_by_test_id("summary-id").text_content()


def _pick(page, model: str) -> None:
    """Pick ``model`` at the top of the page; the Models tab shows it once its versions are in."""
    page.get_by_test_id("model-picker").select_option(model)
    page.wait_for_selector(f"[data-testid=model-row][data-model='{model}']", state="attached")


def _classify(page, text: str) -> None:
    """Classify ``text`` on the Try tab and wait for the answer (a new one: the old result is hidden first)."""
    _tab(page, "try")
    page.evaluate("() => { document.getElementById('predict-result').hidden = true; }")
    page.get_by_test_id("predict-input").fill(text)
    page.get_by_test_id("predict-submit").click()
    page.wait_for_selector("#predict-result:not([hidden]), [data-testid=predict-error]:not([hidden])")
    assert page.get_by_test_id("predict-error").is_hidden(), page.get_by_test_id("predict-error").text_content()


def test_try_tab_shows_the_label_and_shaded_words(page):
    p = page.page
    p.get_by_test_id("predict-input").fill("a gorgeous, witty, seductive movie")
    p.get_by_test_id("predict-submit").click()
    p.wait_for_selector("[data-testid=token]")
    assert p.get_by_test_id("predict-label").text_content() == "positive"
    tokens = p.get_by_test_id("token")
    words = tokens.all_text_contents()
    assert "gorgeous" in words and "witty" in words
    weights = [float(w) for w in tokens.evaluate_all("els => els.map(e => e.dataset.weight)")]
    assert len(weights) == len(words) and any(w != 0 for w in weights)
    # log-odds weights are not bounded: shading is relative to the text's largest |weight|
    strengths = [float(x) for x in tokens.evaluate_all("els => els.map(e => e.style.getPropertyValue('--strength'))")]
    largest = max(range(len(weights)), key=lambda i: abs(weights[i]))
    assert strengths[largest] == 1.0 and all(0 <= x <= 1 for x in strengths)
    assert p.get_by_test_id("explained").text_content() == "a gorgeous, witty, seductive movie"
    assert p.get_by_test_id("model-picker").input_value() == "sentiment-en"  # the default model
    assert p.get_by_test_id("predict-version").text_content() == "sentiment-en, version bundled"
    assert p.locator("#predict-top-box").is_hidden()  # two labels: no top-k list

    p.get_by_test_id("batch-input").fill("loved every minute\nthe plot is a mess and the jokes fall flat")
    p.get_by_test_id("batch-submit").click()
    p.wait_for_selector("[data-testid=batch-row] >> nth=1")
    rows = p.get_by_test_id("batch-row").all_text_contents()
    assert "positive" in rows[0] and "negative" in rows[1]
    _screenshot(p, "try")
    page.check()


def test_without_a_key_the_page_is_read_only(page):
    p = page.page
    assert "read-only" in p.get_by_test_id("api-key-status").text_content()
    assert p.get_by_test_id("upload-input").is_disabled()
    _tab(p, "train")
    assert p.get_by_test_id("train-submit").is_disabled()
    assert p.locator("#panel-train .readonly-note").is_visible()
    _tab(p, "models")
    assert p.get_by_test_id("activate-bundled").is_disabled()
    assert p.get_by_test_id("rollback").is_disabled()
    assert p.evaluate("() => document.cookie") == ""
    page.check()


def test_upload_shows_the_summary(page, tmp_path):
    p = page.page
    _use_key(p)
    data = tmp_path / "reviews.csv"
    data.write_bytes(csv_bytes(200) + b'"w1 good",pos\n"w1 good",neg\n')  # a duplicate text with two labels
    _upload(p, data)
    assert re.search(r"202 read, 202 examples", p.get_by_test_id("summary-rows").text_content())
    assert p.get_by_test_id("summary-conflicts").text_content().startswith("1 ")
    assert p.get_by_test_id("summary-task").text_content().startswith("single-label")
    assert sorted(p.get_by_test_id("label-count").all_text_contents())[0].startswith("neg")
    p.wait_for_selector(f"[data-testid=dataset-row][data-id='{_summary_id(p)}']")
    _screenshot(p, "data")
    page.check()


def test_train_follow_the_curve_activate_and_roll_back(page, tmp_path):
    p = page.page
    _use_key(p)
    data = tmp_path / "train.csv"
    # the bundled model's label names, so that the two versions can be compared
    data.write_bytes(csv_bytes(5000, seed=5).replace(b",pos\n", b",positive\n").replace(b",neg\n", b",negative\n"))
    dataset_id = _upload(p, data)

    _fill_job_form(p, dataset_id, FAST_CONFIG)
    help_text = p.locator("#panel-train .field:has([data-testid=config-hidden_size]) .help").text_content()
    assert help_text  # the schema's description, as help
    p.get_by_test_id("train-submit").click()
    p.wait_for_selector("[data-testid=job-state]:text-matches('queued|running|succeeded')")

    # The chart gains points while the job runs.
    seen_running: list[int] = []
    deadline = time.monotonic() + 180
    while (state := p.get_by_test_id("job-state").text_content()) not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the job did not end within 180 s"
        if state == "running":
            seen_running.append(int(p.get_by_test_id("job-points").text_content()))
        p.wait_for_timeout(100)
    assert state == "succeeded", p.get_by_test_id("job-result").text_content()
    assert len(set(seen_running)) >= 2 and seen_running[-1] > seen_running[0], seen_running
    final_points = int(p.get_by_test_id("job-points").text_content())
    # the epoch's points come with its end (they may reach the page just before the job's state does)
    assert final_points >= max(seen_running) and final_points > seen_running[0]
    assert re.search(r"New version v\d+ of sentiment-en", p.get_by_test_id("job-result").text_content())
    _screenshot(p, "train")

    _tab(p, "models")
    version = re.search(r"New version (\S+) of", p.get_by_test_id("job-result").text_content())[1]
    p.wait_for_selector(f"[data-testid=model-row][data-version='{version}']")
    assert p.get_by_test_id("active-version").text_content() == "bundled"
    p.get_by_test_id(f"activate-{version}").click()
    p.wait_for_selector(f"[data-testid=active-version]:text-is('{version}')")
    # (the heading changes at once; the table once the versions are read again)
    p.wait_for_selector(f"[data-testid=models-table] tr.active[data-version='{version}']")
    assert p.get_by_test_id(f"activate-{version}").is_disabled()
    assert p.get_by_test_id("rollback").text_content() == "Roll back to bundled"
    p.get_by_test_id("rollback").click()
    p.wait_for_selector("[data-testid=active-version]:text-is('bundled')")
    # the server now remembers the version just left as the one to go back to
    p.wait_for_selector(f"[data-testid=rollback]:text-is('Roll back to {version}')")

    p.get_by_test_id("compare-a").select_option(version)
    p.get_by_test_id("compare-b").select_option("bundled")
    p.get_by_test_id("compare-dataset").select_option(dataset_id)
    p.get_by_test_id("compare-submit").click()
    p.wait_for_selector("#compare-result:not([hidden]), #compare-error:not([hidden])")
    assert p.get_by_test_id("compare-error").is_hidden(), p.get_by_test_id("compare-error").text_content()
    metrics = p.get_by_test_id("compare-metrics").text_content()
    assert "accuracy" in metrics and "macro_f1" in metrics
    assert p.get_by_test_id("disagreement").count() > 0  # bundled says negative/positive, v1 neg/pos
    _screenshot(p, "models")
    page.check()


def test_markup_in_a_text_or_a_file_stays_text(page, tmp_path):
    p = page.page
    _use_key(p)
    p.get_by_test_id("predict-input").fill(XSS)
    p.get_by_test_id("predict-submit").click()
    p.wait_for_selector("[data-testid=predict-label]:not(:empty)")
    assert p.get_by_test_id("explained").text_content() == XSS
    p.get_by_test_id("batch-input").fill(f"{XSS}\nfine")
    p.get_by_test_id("batch-submit").click()
    p.wait_for_selector("[data-testid=batch-row] >> nth=1")
    assert p.get_by_test_id("batch-row").first.locator("td").first.text_content() == XSS

    data = tmp_path / "xss.csv"
    data.write_text(f'text,label\n"{XSS}","{XSS}"\nfine words,pos\n', encoding="utf-8")
    _upload(p, data)
    assert XSS in p.get_by_test_id("dataset-summary").text_content()
    assert p.locator("img").count() == 0  # the payload never became an element (nor ran: no dialog)
    page.check()


def test_a_running_job_can_be_cancelled(page, tmp_path):
    p = page.page
    _use_key(p)
    data = tmp_path / "long.csv"
    data.write_bytes(csv_bytes(2000, seed=7))
    dataset_id = _upload(p, data)
    _fill_job_form(p, dataset_id, FAST_CONFIG | {"epochs": "50", "patience": "50"})
    p.get_by_test_id("train-submit").click()
    p.wait_for_selector("[data-testid=job-state]:text-is('running')", timeout=60_000)
    p.get_by_test_id("job-cancel").click()
    p.wait_for_selector("[data-testid=job-state]:text-is('cancelled')", timeout=60_000)
    assert "cancelled" in p.get_by_test_id("job-result").text_content()
    assert p.get_by_test_id("job-cancel").is_hidden()
    page.check()


def test_the_page_names_the_product_not_one_model(page):
    p = page.page
    assert p.title() == "Text classification"
    heading = p.get_by_test_id("heading").text_content()
    assert heading.startswith("Text classification") and "Sentiment" not in heading
    page.check()


def test_the_picker_switches_the_try_tab_between_models(page, topics):
    p = page.page
    options = p.get_by_test_id("model-picker").evaluate("s => [...s.options].map(o => o.value)")
    assert {"sentiment-en", "topics"} <= set(options)
    assert p.get_by_test_id("model-picker").input_value() == "sentiment-en"  # the default model, first
    _classify(p, "w1 sportsword w2")
    assert p.get_by_test_id("predict-label").text_content() in ("positive", "negative")
    assert p.get_by_test_id("predict-version").text_content().startswith("sentiment-en, ")

    _pick(p, "topics")
    assert p.locator("#predict-result").is_hidden()  # the other model's answer went
    assert p.get_by_test_id("model-summary").text_content() == "single-label, 10 labels, serving v1"
    _classify(p, "w1 sportsword w2")
    assert p.get_by_test_id("predict-label").text_content() == "sports"
    assert p.get_by_test_id("predict-version").text_content() == "topics, version v1"
    probabilities = p.get_by_test_id("probability").evaluate_all("els => els.map(e => e.dataset.label)")
    assert sorted(probabilities) == sorted(TOPICS)
    assert "sportsword" in p.get_by_test_id("token").all_text_contents()  # explained with topics too
    # the Models and Train tabs follow the picker
    _tab(p, "models")
    assert p.get_by_test_id("models-name").text_content() == "topics"
    assert p.get_by_test_id("model-row").evaluate_all("rs => rs.map(r => r.dataset.version)") == ["v2", "v1"]
    _tab(p, "train")
    assert p.get_by_test_id("job-model").input_value() == "topics"

    _pick(p, "sentiment-en")
    _classify(p, "a gorgeous, witty, seductive movie")
    assert p.get_by_test_id("predict-label").text_content() == "positive"
    page.check()


def test_a_ten_label_model_shows_its_top_three(page, topics):
    p = page.page
    _pick(p, "topics")
    _classify(p, "w4 foodword w7")
    top = p.get_by_test_id("top-label")
    assert top.count() == 3
    assert top.first.get_attribute("data-label") == "food" == p.get_by_test_id("predict-label").text_content()
    scores = [float(t.split()[-1].rstrip("%")) for t in top.all_text_contents()]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[2]

    p.get_by_test_id("batch-input").fill("w1 musicword\nw2 travelword w3")
    p.get_by_test_id("batch-submit").click()
    p.wait_for_selector("[data-testid=batch-row] >> nth=1")
    tops = p.get_by_test_id("batch-top").all_text_contents()
    assert [t.split()[0] for t in tops] == ["music", "travel"] and all(t.count("%") == 3 for t in tops)
    _screenshot(p, "try-top-k")
    page.check()


def test_below_the_minimum_score_the_answer_is_not_sure(page):
    p = page.page
    p.get_by_test_id("min-score").fill("1")  # no probability reaches 1 on an ordinary text
    _classify(p, "it is a movie")
    assert p.get_by_test_id("predict-label").text_content() == "not sure"
    assert "below the minimum score" in p.get_by_test_id("predict-abstained").text_content()
    p.get_by_test_id("min-score").fill("")
    _classify(p, "it is a movie")
    assert p.get_by_test_id("predict-label").text_content() in ("positive", "negative")
    assert p.get_by_test_id("predict-abstained").text_content() == ""
    page.check()


def test_a_multi_label_answer_shows_its_labels_as_chips(page):
    """No job trains a multi-label model yet, so the API's answer for one is given to the page here."""
    p = page.page
    answer = {"model": "tags", "model_version": "v1", "predictions": [{
        "labels": ["funny", XSS], "probabilities": {"funny": 0.9, XSS: 0.7, "sad": 0.1}, "windows": 1}]}
    p.route("**/v1/predict", lambda route: route.fulfill(json=answer))
    _classify(p, "a funny film")
    chips = p.get_by_test_id("label-chip")
    assert chips.all_text_contents() == ["funny", XSS]  # markup in a label stays text
    assert p.locator("#verdict-name").text_content() == "Labels"
    assert p.locator("img").count() == 0

    answer["predictions"][0]["labels"] = []
    _classify(p, "a film")
    assert p.get_by_test_id("label-chip").count() == 0
    assert p.get_by_test_id("predict-label").text_content() == "none of the labels"
    page.check()


def test_a_ten_label_confusion_matrix_stays_readable(page, topics):
    p = page.page
    p.set_viewport_size({"width": 400, "height": 900})  # narrower than the matrix: it scrolls, it does not shrink
    _pick(p, "topics")
    _tab(p, "models")
    matrix = p.get_by_test_id("confusion-v1")
    cells = matrix.get_by_test_id("matrix-cell")
    assert cells.count() == 100
    sizes = cells.evaluate_all("cs => cs.map(c => [c.getBoundingClientRect().width, c.getBoundingClientRect().height])")
    assert min(w for w, _ in sizes) >= 16 and min(h for _, h in sizes) >= 16, sizes
    fonts = matrix.locator("td, th").evaluate_all("es => es.map(e => parseFloat(getComputedStyle(e).fontSize))")
    assert min(fonts) >= 10, fonts
    # every label whole on screen (none cut short: their own width holds their text)
    cut = matrix.locator("th.row-label span, th.col-label span").evaluate_all(
        "es => es.filter(e => e.scrollWidth > e.clientWidth + 1 || e.scrollHeight > e.clientHeight + 1)"
        ".map(e => e.textContent)")
    assert cut == []
    assert sorted(matrix.locator("th.row-label").all_text_contents()) == sorted(TOPICS)
    assert sorted(matrix.locator("th.col-label").all_text_contents()) == sorted(TOPICS)
    # hovering a cell tells its count
    for title, count in cells.evaluate_all("cs => cs.map(c => [c.title, c.dataset.count])"):
        assert re.fullmatch(rf"true \S+, predicted \S+: {count} \(\d+\.\d% of the row\)", title), title
    box = p.locator(".matrix-box").first
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")  # the page keeps its width; the matrix scrolls
    _screenshot(p, "models-ten-labels")
    page.check()


def test_roll_back_activates_the_servers_previous_version(page, topics, server):
    p = page.page
    # v2 activated elsewhere (another client), not on this page: the page learns what to roll back to from the API
    r = httpx.post(f"{server.url}/v1/models/topics/versions/v2/activate", headers=AUTH, timeout=30)
    assert r.status_code == 200, r.text
    p.reload()
    p.wait_for_selector("body[data-ready=true]")
    _use_key(p)
    _pick(p, "topics")
    _tab(p, "models")
    p.wait_for_selector("[data-testid=active-version]:text-is('v2')")
    rollback = p.get_by_test_id("rollback")
    assert rollback.text_content() == "Roll back to v1" and rollback.is_enabled()
    rollback.click()
    p.wait_for_selector("[data-testid=active-version]:text-is('v1')")
    assert httpx.get(f"{server.url}/v1/models/topics", timeout=30).json()["active_version"] == "v1"
    assert p.get_by_test_id("rollback").text_content() == "Roll back to v2"
    page.check()


def _topics_dataset(server) -> dict:
    return next(d for d in httpx.get(f"{server.url}/v1/datasets", timeout=30).json() if d["filename"] == "topics.csv")


def test_the_train_form_chooses_no_dataset_and_describes_each(page, topics, server, tmp_path):
    p = page.page
    _use_key(p)
    _pick(p, "topics")
    _tab(p, "train")
    picker = p.get_by_test_id("job-dataset_id")
    assert picker.input_value() == ""  # not the newest upload: nothing, until the user chooses
    assert not picker.evaluate("s => s.checkValidity()")  # and the browser will not send the form so
    dataset = _topics_dataset(server)
    text = picker.locator(f"option[value='{dataset['id']}']").text_content()
    assert text.startswith("topics.csv: 1000 examples, ") and re.search(r", \d+\.\d kB; labels ", text), text
    counts = dict(re.findall(r"(\w+) (\d+)", text.split("; labels ")[1].split(" (")[0]))
    assert counts == {label: str(n) for label, n in dataset["label_counts"].items()} and len(counts) == 10
    # an upload does not choose itself either
    data = tmp_path / "five.csv"
    data.write_bytes(csv_bytes(5, seed=3))
    _upload(p, data)
    _tab(p, "train")
    p.wait_for_selector("[data-testid=job-dataset_id] option:text-matches('^five.csv: 5 examples')", state="attached")
    assert picker.input_value() == ""
    page.check()


def test_jobs_and_versions_name_their_data(page, topics, server):
    p = page.page
    _pick(p, "topics")
    dataset_id = _topics_dataset(server)["id"]
    _tab(p, "train")
    p.wait_for_selector("[data-testid=job-row]")
    jobs = httpx.get(f"{server.url}/v1/train-jobs", timeout=30).json()
    for job in (j for j in jobs if j["model"] == "topics"):
        cell = p.locator(f"[data-testid=job-row][data-id='{job['id']}'] [data-testid=dataset-name]")
        assert cell.text_content() == f"topics.csv {dataset_id}"
    _tab(p, "models")
    for version in ("v1", "v2"):
        cell = p.locator(f"[data-testid=model-row][data-version='{version}'] [data-testid=dataset-name]")
        assert cell.text_content() == f"topics.csv {dataset_id}" and cell.get_attribute("title") == f"dataset_id {dataset_id}"
    page.check()


def test_fields_read_as_words_with_their_api_names_as_hints(page):
    p = page.page
    _tab(p, "train")
    for field, words, path in (("config-learning_rate", "Learning rate", "config.learning_rate"),
                               ("config-embedding_dim", "Embedding size", "config.embedding_dim"),
                               ("job-dataset_id", "Training data", "dataset_id"),
                               ("job-time_limit_s", "Time limit (seconds)", "time_limit_s")):
        label = p.locator(f"label[for='{field}']")
        hint = label.get_by_test_id("api-name")
        assert hint.text_content() == path.split(".")[-1] and hint.get_attribute("title") == f"the API's name: {path}"
        assert label.text_content() == f"{words} {path.split('.')[-1]}"
    assert p.locator("label[for=min-score]").get_by_test_id("api-name").text_content() == "min_score"  # the Try tab's too
    # the tables say what each column holds in the API too
    assert "Training data dataset_filename" in p.get_by_test_id("jobs-table").locator("th").all_text_contents()
    page.check()


CHINESE_REVIEWS = ["这部电影非常好看，演员的表演很出色。", "剧情拖沓，浪费了两个小时。", "画面很美，音乐也好听。",
                   "太无聊了，看到一半就睡着了。"]


def test_a_chinese_summary_measures_characters_and_an_english_one_words(page, topics, server, tmp_path):
    p = page.page
    _use_key(p)
    data = tmp_path / "reviews-zh.csv"
    data.write_text("text,label\n" + "".join(f"{t},{'pos' if i % 3 == 0 else 'neg'}\n"
                                              for i, t in enumerate(CHINESE_REVIEWS)), encoding="utf-8")
    _upload(p, data)
    length = p.get_by_test_id("summary-length")
    assert length.get_attribute("data-unit") == "characters"
    assert length.text_content() == "min 11, mean 14, median 13.5, max 18 characters"
    assert "Length (characters per text) length" in p.locator("#dataset-summary dt").all_text_contents()
    # the ten topics' file, written with spaces, in words
    p.get_by_test_id(f"show-{_topics_dataset(server)['id']}").click()
    p.wait_for_selector("[data-testid=summary-length][data-unit=words]")
    assert p.get_by_test_id("summary-length").text_content().endswith(" words")
    page.check()


def test_an_error_leaves_no_earlier_answer_on_the_try_tab(page, topics):
    p = page.page
    _pick(p, "topics")
    _classify(p, "w1 sportsword w2")
    assert p.get_by_test_id("predict-label").text_content() == "sports"
    p.route("**/v1/predict", lambda route: route.fulfill(status=503, json={"code": "overloaded", "message": "busy: try again"}))
    p.get_by_test_id("predict-input").fill("w1 foodword w2")
    p.get_by_test_id("predict-submit").click()
    p.wait_for_selector("[data-testid=predict-error]:not([hidden])")
    assert p.get_by_test_id("predict-error").text_content() == "busy: try again"
    assert p.locator("#predict-result").is_hidden()  # "sports" was another text's answer: it went
    _screenshot(p, "ten-labels-try-after-an-error")
    assert all("status of 503" in problem for problem in page.problems), page.problems
    page.problems.clear()


def test_a_versions_model_card_shows_and_links_to_its_markdown(page, topics, server):
    p = page.page
    _pick(p, "topics")
    _tab(p, "models")
    assert p.get_by_test_id("card").is_hidden()
    p.get_by_test_id("card-v2").click()
    p.wait_for_selector("#card:not([hidden])")
    assert p.get_by_test_id("card-version").text_content() == "topics v2"
    shown = p.get_by_test_id("card-text").text_content()
    answer = p.request.get(server.url + p.get_by_test_id("card-link").get_attribute("href"))
    assert answer.status == 200 and answer.text() == shown and "model card" in shown.lower()
    assert answer.text() == httpx.get(f"{server.url}/v1/models/topics/versions/v2/card", timeout=30).text
    _pick(p, "sentiment-en")
    assert p.get_by_test_id("card").is_hidden()  # it was the other model's
    page.check()


def test_screenshots_of_each_tab_with_the_ten_label_model(page, topics, server):
    """For a reader of the change, not a check of pixels: each tab as a user sees it with ten labels
    (in test-artifacts/browser/ten-labels-*.png)."""
    p = page.page
    _use_key(p)
    _pick(p, "topics")
    _classify(p, "w4 foodword w7")
    for tab in ("try", "data", "score", "train", "models"):
        _tab(p, tab)
        assert p.get_by_test_id("model-picker").input_value() == "topics"
        if tab == "data":  # the ten labels' summary
            p.get_by_test_id(f"show-{_topics_dataset(server)['id']}").click()
            p.wait_for_selector("[data-testid=summary-length]")
        elif tab == "train":
            p.get_by_test_id("config-open").click()
        elif tab == "models":
            p.get_by_test_id("card-v1").click()
            p.wait_for_selector("#card:not([hidden])")
        _screenshot(p, f"ten-labels-{tab}")
        assert (ARTIFACTS / f"ten-labels-{tab}.png").stat().st_size > 10_000
    page.check()


def test_the_train_tab_names_a_new_model(page, server, tmp_path):
    p = page.page
    _use_key(p)
    data = tmp_path / "reviews.csv"
    data.write_bytes(csv_bytes(300, seed=11))
    dataset_id = _upload(p, data)
    _fill_job_form(p, dataset_id, FAST_CONFIG)
    assert p.get_by_test_id("job-model").input_value() == "sentiment-en"  # the picked model, until changed
    p.get_by_test_id("job-model").fill("reviews")
    p.get_by_test_id("train-submit").click()
    p.wait_for_selector("[data-testid=job-state]:text-matches('succeeded|failed|cancelled')", timeout=180_000)
    assert "New version v1 of reviews" in p.get_by_test_id("job-result").text_content()
    job_id = p.get_by_test_id("job-id").text_content()
    assert httpx.get(f"{server.url}/v1/train-jobs/{job_id}", timeout=30).json()["model"] == "reviews"
    # the new model is in the picker, and its own
    p.wait_for_selector("[data-testid=model-picker] option[value=reviews]", state="attached")
    _pick(p, "reviews")
    assert p.get_by_test_id("model-row").evaluate_all("rs => rs.map(r => r.dataset.version)") == ["v1"]
    page.check()


# Texts to score: a comma, quotes and markup, so that the CSV's quoting and the order are both checked.
TEXTS_TO_SCORE = ["a gorgeous, witty, seductive movie", 'the plot is a "mess" and the jokes fall flat',
                  XSS, "loved every minute", "it is a movie"]


def _texts_csv(path: Path, texts: list[str]) -> Path:
    """A CSV of a text column alone: an unlabelled dataset."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    return path


def _score(page, path: Path) -> str:
    """Upload ``path`` on the Score tab, score it with the picked model; the batch job's id once it has ended."""
    _tab(page, "score")
    page.get_by_test_id("score-upload").set_input_files(str(path))
    page.wait_for_selector(f"[data-testid=score-uploaded]:text-matches('^{re.escape(path.name)}: ')")
    page.get_by_test_id("score-submit").click()
    page.wait_for_selector("[data-testid=score-job-state]:text-matches('^(succeeded|failed|cancelled)$')", timeout=120_000)
    return page.get_by_test_id("score-job-id").text_content()


def test_a_file_of_texts_is_scored_and_its_result_downloads(page, server, tmp_path):
    p = page.page
    _use_key(p)
    _tab(p, "score")
    assert p.get_by_test_id("score-model").text_content() == "sentiment-en, version bundled"
    job_id = _score(p, _texts_csv(tmp_path / "texts.csv", TEXTS_TO_SCORE))
    assert p.get_by_test_id("score-job-state").text_content() == "succeeded", p.get_by_test_id("score-error").text_content()
    assert p.get_by_test_id("score-error").is_hidden()
    assert "unlabelled" in p.get_by_test_id("score-uploaded").text_content()
    assert p.get_by_test_id("score-job-progress").text_content().startswith("5 of 5 texts scored (100")
    assert p.get_by_test_id("score-job-what").text_content() == "texts.csv with sentiment-en, version bundled"

    # The link downloads the CSV: one row per text, in the file's order, labelled as /v1/predict labels them.
    with p.expect_download() as download:
        p.get_by_test_id("score-job-download").get_by_test_id("score-download-csv").click()
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert rows[0] == ["text", "label", "score", "p_negative", "p_positive"]
    assert [r[0] for r in rows[1:]] == TEXTS_TO_SCORE
    r = httpx.post(f"{server.url}/v1/predict", json={"texts": TEXTS_TO_SCORE, "model": "sentiment-en"}, timeout=30)
    assert r.status_code == 200, r.text
    assert [row[1] for row in rows[1:]] == [pr["label"] for pr in r.json()["predictions"]]
    # ... and the JSONL link the same texts, as the page's own request context fetches it
    href = p.get_by_test_id("score-job-download").get_by_test_id("score-download-jsonl").get_attribute("href")
    answer = p.request.get(server.url + href)
    assert answer.status == 200
    assert [json.loads(line)["text"] for line in answer.text().splitlines()] == TEXTS_TO_SCORE

    # The list of batch jobs names the file, the model, the version and the rows, with the download.
    row = p.locator(f"[data-testid=score-job-row][data-id='{job_id}']")
    row.wait_for()
    assert row.get_attribute("data-state") == "succeeded"
    cells = row.locator("td").all_text_contents()
    assert cells[1:6] == ["texts.csv", "sentiment-en", "bundled", "5 of 5", "succeeded"], cells
    assert row.get_by_test_id("score-download-csv").get_attribute("href") == f"/v1/batch-jobs/{job_id}/result"
    _screenshot(p, "score")
    # The Data tab lists the file as unlabelled.
    _tab(p, "data")
    dataset_id = httpx.get(f"{server.url}/v1/batch-jobs/{job_id}", timeout=30).json()["dataset_id"]
    assert "(unlabelled)" in p.locator(f"[data-testid=dataset-row][data-id='{dataset_id}']").text_content()

    # A job the server refuses: its error shows, and the last job's result (and link) goes.
    p.route("**/v1/batch-jobs", lambda route: route.fulfill(
        status=503, json={"code": "queue_full", "message": "9 jobs are already queued"})
        if route.request.method == "POST" else route.continue_())
    _tab(p, "score")
    p.get_by_test_id("score-submit").click()
    p.wait_for_selector("[data-testid=score-error]:not([hidden])")
    assert p.get_by_test_id("score-error").text_content() == "9 jobs are already queued"
    assert p.locator("#score-job").is_hidden()
    assert not p.get_by_test_id("score-job-download").is_visible()
    # the refusal the browser logs, and nothing else
    assert page.problems == ["console error: Failed to load resource: the server responded with a status of 503 "
                             "(Service Unavailable)"]
    page.problems.clear()


def test_a_correction_from_the_try_tab_is_stored_and_can_be_trained_on(page, server):
    p = page.page
    text = "the ending of this film is not what I expected at all"
    before = httpx.get(f"{server.url}/v1/models/sentiment-en/feedback", timeout=30).json()["items"]
    _classify(p, text)
    assert p.get_by_test_id("feedback-submit").is_disabled()  # no key: no corrections
    _use_key(p)
    assert p.get_by_test_id("feedback-submit").is_enabled()
    predicted = p.get_by_test_id("predict-label").text_content()
    right = {"positive": "negative", "negative": "positive"}[predicted]
    assert p.get_by_test_id("feedback-label").input_value() == right  # offered: the label not predicted
    assert p.get_by_test_id("feedback-label").evaluate("s => [...s.options].map(o => o.value)") == ["negative", "positive"]
    p.get_by_test_id("feedback-submit").click()
    p.wait_for_selector("[data-testid=feedback-saved]:not(:empty), [data-testid=feedback-error]:not([hidden])")
    assert p.get_by_test_id("feedback-error").is_hidden(), p.get_by_test_id("feedback-error").text_content()
    assert p.get_by_test_id("feedback-saved").text_content() == \
        f"Saved: {before + 1} correction{'' if before == 0 else 's'} for sentiment-en so far."

    summary = httpx.get(f"{server.url}/v1/models/sentiment-en/feedback", timeout=30).json()
    assert summary["items"] == before + 1 and summary["label_counts"].get(right, 0) >= 1, summary
    assert p.get_by_test_id("feedback-count").get_attribute("data-items") == str(before + 1)
    _screenshot(p, "try-feedback")

    # Train on them: the Train tab, filled with the corrections' dataset, the model and its served version.
    p.get_by_test_id("feedback-train").click()
    p.wait_for_selector("#panel-train:not([hidden])")
    assert p.get_by_test_id("train-error").is_hidden(), p.get_by_test_id("train-error").text_content()
    assert p.get_by_test_id("job-dataset_id").input_value() == summary["dataset_id"]
    assert p.get_by_test_id("job-model").input_value() == "sentiment-en"
    assert p.get_by_test_id("job-base_version").input_value() == "bundled"
    assert p.get_by_test_id("job-promote").input_value() == "if_better"
    page.check()


def test_a_multi_label_correction_sends_the_checked_labels(page, server):
    """No job trains a multi-label model yet, so the API's answers for one ("tags") are given to the page here."""
    p = page.page
    catalog = httpx.get(f"{server.url}/v1/models", timeout=30).json()
    tags = next(m for m in catalog["models"] if m["name"] == "sentiment-en") | {
        "name": "tags", "task": "multi_label", "labels": ["funny", "sad", "long"], "active_version": "v1", "versions": ["v1"]}
    catalog["models"].append(tags)
    sent = []

    def feedback(route):
        if route.request.method == "POST":
            sent.append(route.request.post_data_json)
            route.fulfill(json={"model": "tags", "stored": 1, "items": 4})
        else:
            route.fulfill(json={"model": "tags", "items": 3, "label_counts": {"funny": 3}, "dataset_id": "f00d"})

    p.route("**/v1/models", lambda route: route.fulfill(json=catalog))
    p.route("**/v1/models/tags/versions", lambda route: route.fulfill(json={"model": "tags", "versions": []}))
    p.route("**/v1/models/tags/feedback", feedback)
    p.route("**/v1/explain", lambda route: route.fulfill(json={"model": "tags", "label": "funny", "tokens": []}))
    p.route("**/v1/predict", lambda route: route.fulfill(json={"model": "tags", "model_version": "v1", "predictions": [
        {"labels": ["funny"], "probabilities": {"funny": 0.9, "sad": 0.2, "long": 0.1}, "windows": 1}]}))
    p.reload()
    p.wait_for_selector("body[data-ready=true]")
    _use_key(p)
    p.get_by_test_id("model-picker").select_option("tags")
    p.wait_for_selector("[data-testid=feedback-count]:text-is('tags has 3 corrections (funny 3).')")
    _classify(p, "a long, funny film")
    assert p.get_by_test_id("feedback-label").is_hidden()
    boxes = p.get_by_test_id("feedback-choice")
    assert boxes.evaluate_all("bs => bs.map(b => [b.value, b.checked])") == [["funny", True], ["sad", False], ["long", False]]
    boxes.nth(2).check()
    p.get_by_test_id("feedback-submit").click()
    p.wait_for_selector("[data-testid=feedback-saved]:not(:empty)")
    assert sent == [{"items": [{"text": "a long, funny film", "labels": ["funny", "long"]}]}]
    assert p.get_by_test_id("feedback-saved").text_content() == "Saved: 4 corrections for tags so far."
    page.check()

