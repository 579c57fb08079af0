// The Try tab: one text classified and explained word by word; several texts as a table.

import { api, ApiError, el, fillTable, formatNumber, showError } from "./api.js";

const $ = (id) => document.getElementById(id);

function probabilityBars(probabilities, label) {
  return Object.entries(probabilities)
    .sort((a, b) => b[1] - a[1])
    .map(([name, p]) => {
      const bar = el("span", { class: `bar ${name === label ? "chosen" : ""}` });
      bar.style.setProperty("--share", String(p)); // CSSOM, which the CSP allows (no style attribute)
      return el("div", { class: "bar-row", "data-testid": "probability", "data-label": name },
                el("span", { class: "bar-label" }, name), el("span", { class: "bar-track" }, bar),
                el("span", { class: "num" }, `${(p * 100).toFixed(1)}%`));
    });
}

/** The text with each explained token in a shaded <span>; the characters between them as text. */
function shadedText(text, tokens) {
  const largest = Math.max(1e-9, ...tokens.map((t) => Math.abs(t.weight)));
  const parts = [];
  let at = 0;
  for (const token of [...tokens].sort((a, b) => a.start - b.start)) {
    if (token.start < at) continue; // overlapping spans: keep the first
    if (token.start > at) parts.push(text.slice(at, token.start));
    const span = el("span", {
      class: `token ${token.weight >= 0 ? "toward" : "away"}`,
      "data-testid": "token",
      "data-weight": String(token.weight),
      title: `weight ${formatNumber(token.weight, 4)}`,
    }, text.slice(token.start, token.end));
    span.style.setProperty("--strength", (Math.abs(token.weight) / largest).toFixed(3));
    parts.push(span);
    at = token.end;
  }
  if (at < text.length) parts.push(text.slice(at));
  return parts;
}

async function classify(event) {
  event.preventDefault();
  const text = $("predict-input").value;
  const button = event.submitter;
  showError($("predict-error"), null);
  button.disabled = true;
  try {
    let answer, note = "";
    try {
      answer = await api("POST", "/v1/explain", { json: { text } });
    } catch (error) {
      if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 405)) throw error;
      const predicted = await api("POST", "/v1/predict", { json: { text } });
      answer = { model_version: predicted.model_version, ...predicted.predictions[0], tokens: [] };
      note = "This server does not explain predictions (no POST /v1/explain): the words are not shaded.";
    }
    $("predict-label").textContent = answer.label;
    $("predict-version").textContent = `model version ${answer.model_version}`;
    $("predict-probabilities").replaceChildren(...probabilityBars(answer.probabilities, answer.label));
    $("explained").replaceChildren(...shadedText(text, answer.tokens || []));
    $("explain-note").textContent = note;
    $("explain-note").hidden = !note;
    $("predict-result").hidden = false;
  } catch (error) {
    showError($("predict-error"), error);
  } finally {
    button.disabled = false;
  }
}

async function classifyAll(event) {
  event.preventDefault();
  const texts = $("batch-input").value.split("\n").filter((line) => line.trim());
  const button = event.submitter;
  showError($("batch-error"), null);
  if (!texts.length) return showError($("batch-error"), "write at least one text, one per line");
  button.disabled = true;
  try {
    const answer = await api("POST", "/v1/predict", { json: { texts } });
    fillTable($("batch-table"), answer.predictions.map((p, i) => el("tr", { "data-testid": "batch-row" },
      el("td", { class: "text" }, texts[i]), el("td", {}, p.label), el("td", { class: "num" }, formatNumber(p.score)))));
    $("batch-table").hidden = false;
  } catch (error) {
    showError($("batch-error"), error);
  } finally {
    button.disabled = false;
  }
}

export function setUpTry() {
  $("predict-form").addEventListener("submit", classify);
  $("batch-form").addEventListener("submit", classifyAll);
}
