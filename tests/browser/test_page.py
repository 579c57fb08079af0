"""The web page in a real browser: Playwright drives Debian's chromium against a real server.

Needs the ``playwright`` package (in the ``dev`` extra, whose driver talks to the browser) and a ``chromium`` executable on the PATH (``apt-get install -y
chromium``); Playwright's own browser downloads are never used. Without either the tests skip
and say which is missing, unless ``REQUIRE_BROWSER=1`` (as ``.ci/run`` sets it), where they
fail. Any console error, page error or dialog fails a test (a CSP violation is a console error;
an XSS payload that ran would open a dialog). Screenshots of the tabs go to
``test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.support.data import csv_bytes
from tests.support.server import ROOT, start_server
from tests.support.settings import KEY

pytestmark = pytest.mark.slow
ARTIFACTS = ROOT / "test-artifacts" / "browser"
XSS = "<img src=x onerror=alert(1)>"
# One epoch over 5,000 examples in batches of 2: about 4 s of training on the 2-core development
# machine, so that the curve visibly gains points while the job runs (progress comes twice a second).
FAST_CONFIG = {"epochs": "1", "batch_size": "2", "embedding_dim": "16", "hidden_size": "32", "tokenizer": "word",
               "pretrained": "", "pooling": "max"}


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
    assert p.get_by_test_id("explained").text_content() == "a gorgeous, witty, seductive movie"

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
    assert "New version v" in p.get_by_test_id("job-result").text_content()
    _screenshot(p, "train")

    _tab(p, "models")
    version = p.get_by_test_id("job-result").text_content().split("New version ")[1].split(";")[0]
    p.wait_for_selector(f"[data-testid=model-row][data-version='{version}']")
    assert p.get_by_test_id("active-version").text_content() == "bundled"
    p.get_by_test_id(f"activate-{version}").click()
    p.wait_for_selector(f"[data-testid=active-version]:text-is('{version}')")
    assert "active" in p.get_by_test_id("models-table").locator(f"tr[data-version='{version}']").get_attribute("class")
    assert p.get_by_test_id(f"activate-{version}").is_disabled()
    p.get_by_test_id("rollback").click()
    p.wait_for_selector("[data-testid=active-version]:text-is('bundled')")
    assert p.get_by_test_id("rollback").is_disabled()

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
