// The Models tab, for the model picked at the top of the page: its versions and their metrics,
// confusion matrices, activate and roll back, and two of its versions compared on a dataset.

import { api, apiKey, el, fillTable, formatNumber, formatTime, modelPath, showError } from "./api.js";
import { confusionMatrix } from "./charts.js";
import { datasetCell, describeDataset } from "./data.js";

const $ = (id) => document.getElementById(id);
let model = null; // the picked model as GET /v1/models describes it: its previous_version is what "Roll back" restores
let loads = 0; // the latest refresh: an older one that answers late is dropped

function metric(v, key) {
  return el("td", { class: "num" }, formatNumber(v.metrics ? v.metrics[key] : undefined));
}

/** A version's labels: a few in full, more as their count (all of them in its title, and in the confusion matrix). */
function labelsCell(labels) {
  return labels.length > 4
    ? el("td", { class: "text", title: labels.join(", ") }, `${labels.length} labels`)
    : el("td", { class: "text" }, labels.join(", "));
}

function row(v) {
  const activate = el("button", { type: "button", "data-testid": `activate-${v.version}`,
                                  disabled: !apiKey() || v.active || v.status !== "ready" }, v.active ? "active" : "activate");
  activate.addEventListener("click", () => activateVersion(v.version));
  const card = el("button", { type: "button", "data-testid": `card-${v.version}`, disabled: v.status !== "ready",
                              title: "the model card: what it was trained on, how, and its figures" }, "card");
  card.addEventListener("click", () => showCard(v.model, v.version));
  return el("tr", { "data-testid": "model-row", "data-model": v.model, "data-version": v.version,
                    class: v.active ? "active" : "" },
    el("td", {}, el("code", {}, v.version)), el("td", {}, v.status + (v.error ? `: ${v.error}` : "")),
    el("td", {}, v.source), datasetCell(v.dataset_id, v.dataset_filename),
    metric(v, "accuracy"), metric(v, "macro_f1"), metric(v, "n"),
    labelsCell(v.labels || []), el("td", {}, formatTime(v.created_at)), el("td", {}, card), el("td", {}, activate));
}

/** A version's model card (its markdown, as training wrote it) below the versions, with a link to the raw file. */
async function showCard(name, version) {
  showError($("models-error"), null);
  try {
    const answer = await api("GET", `${modelPath(name, "versions", version, "card")}?format=json`);
    $("card-version").textContent = `${name} ${version}`;
    $("card-text").textContent = answer.markdown || "(this version has no card)";
    $("card-link").href = modelPath(name, "versions", version, "card");
    $("card").hidden = false;
  } catch (error) {
    $("card").hidden = true; // the card shown was another version's
    showError($("models-error"), error);
  }
}

function matrixOrNote(labels, matrix, testid) {
  return Array.isArray(matrix) && Array.isArray(labels) && labels.length && matrix.length === labels.length
    ? confusionMatrix(labels, matrix, testid)
    : el("p", { class: "muted" }, "no confusion matrix recorded for this version");
}

function confusions(versions) {
  return versions.map((v) => {
    const m = v.metrics || {};
    return el("figure", { class: "confusion" }, el("figcaption", {}, el("code", {}, v.version)),
              matrixOrNote(m.labels || v.labels, m.confusion_matrix, `confusion-${v.version}`));
  });
}

function updateRollback() {
  const button = $("rollback");
  const previous = model && model.previous_version;
  const usable = previous && previous !== model.active_version;
  button.disabled = !apiKey() || !usable;
  button.textContent = usable ? `Roll back to ${previous}` : "Roll back";
  button.dataset.version = usable ? previous : "";
  button.title = usable ? `serve ${previous} again, the version served before ${model.active_version}`
    : "no other version was served before this one";
}

/** Show `info`'s versions (GET /v1/models/{name}/versions); the versions, or [] when that fails. */
export async function refreshModels(info) {
  const ticket = ++loads;
  if (!info || !model || info.name !== model.name) { // what was shown was of another model
    $("compare-result").hidden = true;
    $("card").hidden = true;
  }
  model = info;
  $("models-name").textContent = info ? info.name : "";
  $("active-version").textContent = info ? info.active_version : "";
  $("models-task").textContent = info
    ? `(${info.task === "multi_label" ? "multi-label" : "single-label"}${info.min_score != null ? `, minimum score ${info.min_score}` : ""})`
    : "";
  updateRollback();
  if (!info) return [];
  try {
    const answer = await api("GET", modelPath(info.name, "versions"));
    if (ticket !== loads) return null;
    showError($("models-error"), null);
    fillTable($("models-table"), answer.versions.map(row));
    $("confusions").replaceChildren(...confusions(answer.versions));
    return answer.versions;
  } catch (error) {
    if (ticket === loads) showError($("models-error"), error);
    return [];
  }
}

async function activateVersion(version) {
  showError($("models-error"), null);
  try {
    await api("POST", modelPath(model.name, "versions", version, "activate"));
  } catch (error) {
    showError($("models-error"), error);
  }
  document.dispatchEvent(new CustomEvent("models-changed"));
}

/** The compare form's choices: two of the picked model's versions, and a dataset. */
export function setCompareChoices(versions, datasets) {
  for (const [id, items, value, text] of [
    ["compare-a", versions, (v) => v.version, (v) => v.version],
    ["compare-b", versions, (v) => v.version, (v) => v.version],
    ["compare-dataset", datasets, (d) => d.id, describeDataset]]) {
    if (!items) continue;
    const select = $(id), current = select.value;
    select.replaceChildren(...items.map((x) => el("option", { value: value(x), selected: value(x) === current }, text(x))));
  }
  if (versions && versions.length > 1 && $("compare-a").value === $("compare-b").value) {
    $("compare-b").value = versions.find((v) => v.version !== $("compare-a").value).version; // two different ones
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
  $("compare-confusions").replaceChildren(...versions.map((v) => el("figure", { class: "confusion" },
    el("figcaption", {}, el("code", {}, v)),
    matrixOrNote(answer.versions[v].labels, answer.versions[v].confusion_matrix, `compare-confusion-${v}`))));
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
  if (!model) return;
  event.submitter.disabled = true;
  try {
    const answer = await api("POST", modelPath(model.name, "compare"), {
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
  $("rollback").addEventListener("click", () => activateVersion($("rollback").dataset.version));
  $("compare-form").addEventListener("submit", compare);
}
