// The Try tab, with the model picked at the top of the page: one text classified and explained
// word by word; several texts as a table. A model of more than two labels shows its three most
// probable ones; a multi-label model's labels show as chips; an abstention shows as "not sure".
// Below a prediction, a person can correct it (feedback.js).

import { api, ApiError, el, fillTable, formatNumber, showError } from "./api.js";
import { offerCorrection, setFeedbackModel } from "./feedback.js";

const $ = (id) => document.getElementById(id);
const TOP = 3;
let model = null; // the picked model as GET /v1/models describes it

/** Predict with the picked model from now on; what the tab showed for another model goes. */
export function setTryModel(info) {
  const changed = (info && info.name) !== (model && model.name);
  model = info;
  if (changed) {
    $("predict-result").hidden = true;
    $("batch-table").hidden = true;
  }
  setFeedbackModel(info);
}

function topK() {
  return model && model.labels.length > 2 ? Math.min(TOP, model.labels.length) : undefined;
}

/** A prediction request's body: the texts, the picked model, top_k and the minimum score when they apply. */
function body(texts) {
  const out = { ...texts };
  if (model) out.model = model.name;
  const k = topK();
  if (k) out.top_k = k;
  const minScore = $("min-score").value;
  if (minScore !== "") out.min_score = Number(minScore);
  return out;
}

const percent = (p) => `${(p * 100).toFixed(1)}%`;

/** What a prediction says: its label, "not sure" when it abstained, a multi-label one's labels as chips. */
function verdict(p) {
  if (Array.isArray(p.labels)) {
    return p.labels.length
      ? p.labels.map((label) => el("span", { class: "chip", "data-testid": "label-chip", "data-label": label }, label))
      : [el("span", { class: "abstained" }, "none of the labels")];
  }
  if (p.abstained || p.label === null || p.label === undefined) return [el("span", { class: "abstained" }, "not sure")];
  return [p.label];
}

function topText(p) {
  return (p.top || []).map((t) => `${t.label} ${percent(t.score)}`).join(", ");
}

function probabilityBars(probabilities, chosen) {
  return Object.entries(probabilities)
    .sort((a, b) => b[1] - a[1])
    .map(([name, p]) => {
      const bar = el("span", { class: `bar ${chosen.includes(name) ? "chosen" : ""}` });
      bar.style.setProperty("--share", String(p)); // CSSOM, which the CSP allows (no style attribute)
      return el("div", { class: "bar-row", "data-testid": "probability", "data-label": name },
                el("span", { class: "bar-label" }, name), el("span", { class: "bar-track" }, bar),
                el("span", { class: "num" }, percent(p)));
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

/** Why the words are not shaded, or toward which label they are, when that is not the answer's. */
function explainNote(explained, p) {
  if (explained.status === "rejected") {
    const error = explained.reason;
    if (!(error instanceof ApiError)) throw error;
    return error.status === 404 || error.status === 405
      ? "This server does not explain predictions (no explain endpoint): the words are not shaded."
      : `The words are not shaded: ${error.message}`;
  }
  const toward = explained.value.label;
  return toward && toward !== p.label ? `The words are weighed toward ${toward}, the most probable label.` : "";
}

async function classify(event) {
  event.preventDefault();
  const text = $("predict-input").value;
  const button = event.submitter;
  showError($("predict-error"), null);
  button.disabled = true;
  const asked = model;
  try {
    const explain = { text };
    if (model) explain.model = model.name;
    const [predicted, explained] = await Promise.allSettled([
      api("POST", "/v1/predict", { json: body({ text }) }), api("POST", "/v1/explain", { json: explain })]);
    if (predicted.status === "rejected") throw predicted.reason;
    const answer = predicted.value, p = answer.predictions[0];
    const multi = Array.isArray(p.labels);
    $("verdict-name").textContent = multi ? "Labels" : "Label";
    $("predict-label").replaceChildren(...verdict(p));
    const [best, bestScore] = Object.entries(p.probabilities).sort((a, b) => b[1] - a[1])[0] || [];
    $("predict-abstained").textContent = p.abstained && !multi
      ? `(the most probable label, ${best} at ${percent(bestScore)}, is below the minimum score)` : "";
    $("predict-version").textContent = `${answer.model}, version ${answer.model_version}`;
    $("predict-top").replaceChildren(...(p.top || []).map((t) => el("li", { "data-testid": "top-label", "data-label": t.label },
      `${t.label} `, el("span", { class: "num" }, percent(t.score)))));
    $("predict-top-box").hidden = !(p.top && p.top.length);
    $("predict-probabilities").replaceChildren(...probabilityBars(p.probabilities, multi ? p.labels : [p.label]));
    const tokens = explained.status === "fulfilled" ? explained.value.tokens || [] : [];
    $("explained").replaceChildren(...shadedText(text, tokens));
    const note = explainNote(explained, p);
    $("explain-note").textContent = note;
    $("explain-note").hidden = !note;
    offerCorrection(asked, text, p);
    $("predict-result").hidden = false;
  } catch (error) {
    $("predict-result").hidden = true; // the answer shown was another text's
    offerCorrection(null);
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
    const answer = await api("POST", "/v1/predict", { json: body({ texts }) });
    const top = answer.predictions.some((p) => p.top);
    $("batch-table").tHead.replaceChildren(el("tr", {}, el("th", {}, "text"), el("th", {}, "label"), el("th", {}, "score"),
                                               top ? el("th", {}, `top ${topK() || ""}`) : null));
    fillTable($("batch-table"), answer.predictions.map((p, i) => el("tr", { "data-testid": "batch-row" },
      el("td", { class: "text" }, texts[i]), el("td", {}, ...verdict(p)), el("td", { class: "num" }, formatNumber(p.score)),
      top ? el("td", { "data-testid": "batch-top" }, topText(p)) : null)));
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
