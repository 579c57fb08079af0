// The Models tab: versions and their metrics, confusion matrices, activate and roll back, and
// two versions compared on a dataset.

import { api, apiKey, el, fillTable, formatNumber, formatTime, showError } from "./api.js";
import { confusionMatrix } from "./charts.js";

const $ = (id) => document.getElementById(id);
let previous = null; // the version active before this page's last activation: what "Roll back" restores
let activeVersion = null;

function metric(m, key) {
  return el("td", { class: "num" }, formatNumber(m.metrics ? m.metrics[key] : undefined));
}

function row(m) {
  const activate = el("button", { type: "button", "data-testid": `activate-${m.version}`,
                                  disabled: !apiKey() || m.active || m.status !== "ready" }, m.active ? "active" : "activate");
  activate.addEventListener("click", () => activateVersion(m.version));
  return el("tr", { "data-testid": "model-row", "data-version": m.version, class: m.active ? "active" : "" },
    el("td", {}, el("code", {}, m.version)), el("td", {}, m.status + (m.error ? `: ${m.error}` : "")),
    el("td", {}, m.source), metric(m, "accuracy"), metric(m, "macro_f1"), metric(m, "n"),
    el("td", { class: "text" }, (m.labels || []).join(", ")), el("td", {}, formatTime(m.created_at)), el("td", {}, activate));
}

function confusions(models) {
  return models.map((m) => {
    const matrix = m.metrics && m.metrics.confusion_matrix;
    const labels = (m.metrics && m.metrics.labels) || m.labels || [];
    const body = Array.isArray(matrix) && matrix.length === labels.length
      ? confusionMatrix(labels, matrix, `confusion-${m.version}`)
      : el("p", { class: "muted" }, "no confusion matrix recorded for this version");
    return el("figure", { class: "confusion" }, el("figcaption", {}, el("code", {}, m.version)), body);
  });
}

function updateRollback() {
  const button = $("rollback");
  button.disabled = !apiKey() || !previous || previous === activeVersion;
  button.textContent = previous && previous !== activeVersion ? `Roll back to ${previous}` : "Roll back";
  button.title = previous ? "" : "activate a version on this page first; rolling back restores the one active before it";
}

export async function refreshModels() {
  try {
    const answer = await api("GET", "/v1/models");
    activeVersion = answer.active_version;
    $("active-version").textContent = activeVersion;
    fillTable($("models-table"), answer.models.map(row));
    $("confusions").replaceChildren(...confusions(answer.models));
    updateRollback();
    return answer.models;
  } catch (error) {
    showError($("models-error"), error);
    return [];
  }
}

async function activateVersion(version, rollingBack = false) {
  showError($("models-error"), null);
  const before = activeVersion;
  try {
    await api("POST", `/v1/models/${encodeURIComponent(version)}/activate`);
    previous = rollingBack ? null : before;
  } catch (error) {
    showError($("models-error"), error);
  }
  document.dispatchEvent(new CustomEvent("models-changed"));
}

export function setCompareChoices(models, datasets) {
  for (const [id, items, value, text] of [
    ["compare-a", models, (m) => m.version, (m) => m.version],
    ["compare-b", models, (m) => m.version, (m) => m.version],
    ["compare-dataset", datasets, (d) => d.id, (d) => `${d.id}: ${d.filename}`]]) {
    if (!items) continue;
    const select = $(id), current = select.value;
    select.replaceChildren(...items.map((x) => el("option", { value: value(x), selected: value(x) === current }, text(x))));
  }
  if (models && models.length > 1 && $("compare-a").value === $("compare-b").value) {
    $("compare-b").value = models.find((m) => m.version !== $("compare-a").value).version; // two different ones
  }
}

function compareTables(answer) {
  const versions = Object.keys(answer.versions);
  const names = [...new Set(versions.flatMap((v) => Object.keys(answer.versions[v])))]
    .filter((k) => versions.some((v) => typeof answer.versions[v][k] === "number"));
  const metrics = $("compare-metrics");
  metrics.tHead.replaceChildren(el("tr", {}, el("th", {}, `on ${answer.dataset_id} (${answer.examples} examples)`),
                                   ...versions.map((v) => el("th", {}, v))));
  fillTable(metrics, names.map((k) => el("tr", {}, el("th", {}, k),
    ...versions.map((v) => el("td", { class: "num" }, formatNumber(answer.versions[v][k]))))));
  $("compare-heading").textContent =
    `Texts they disagree on: ${answer.disagreements.length} shown of ${answer.disagreements_total}`;
  const table = $("compare-disagreements");
  table.tHead.replaceChildren(el("tr", {}, el("th", {}, "text"), el("th", {}, "true label"), ...versions.map((v) => el("th", {}, v))));
  fillTable(table, answer.disagreements.map((d) => el("tr", { "data-testid": "disagreement" },
    el("td", { class: "text" }, d.text), el("td", {}, d.label),
    ...versions.map((v) => {
      const p = d.predictions[v] || {};
      return el("td", { class: p.label === d.label ? "right" : "wrong" }, `${p.label ?? ""} (${typeof p.score === "number" ? p.score.toFixed(2) : ""})`);
    }))));
}

async function compare(event) {
  event.preventDefault();
  showError($("compare-error"), null);
  event.submitter.disabled = true;
  try {
    const answer = await api("POST", "/v1/models/compare", {
      json: { versions: [$("compare-a").value, $("compare-b").value], dataset_id: $("compare-dataset").value } });
    compareTables(answer);
    $("compare-result").hidden = false;
  } catch (error) {
    showError($("compare-error"), error);
  } finally {
    event.submitter.disabled = false;
  }
}

export function setUpModels() {
  $("rollback").addEventListener("click", () => activateVersion(previous, true));
  $("compare-form").addEventListener("submit", compare);
}
