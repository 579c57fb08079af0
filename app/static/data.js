// The Data tab: upload a file (drag and drop or the file input), its summary, the datasets.
// `uploadDataset` is the one upload the page makes (the Score tab uploads with it too).

import { api, el, fillTable, formatNumber, formatTime, showError } from "./api.js";
import { apiName } from "./labels.js";

const $ = (id) => document.getElementById(id);
const TASKS = {
  single_label: "single-label (one label per text)",
  multi_label: "multi-label (any number of labels per text)",
  unlabelled: "unlabelled (texts alone: a file to score, not to train on)",
};

function stats(values) {
  if (!values) return "";
  return ["min", "mean", "median", "max"].filter((k) => k in values)
    .map((k) => `${k} ${formatNumber(values[k], 1)}`).join(", ");
}

/** 1234567 -> "1.2 MB" (powers of 1000, as file managers show them). */
export function formatBytes(n) {
  if (typeof n !== "number") return "";
  const units = ["bytes", "kB", "MB", "GB"];
  const i = Math.min(units.length - 1, Math.floor(Math.log10(Math.max(n, 1)) / 3));
  return i ? `${(n / 1000 ** i).toFixed(1)} ${units[i]}` : `${n} bytes`;
}

/** Label counts, the largest first: "sports 104, politics 99". */
function countsText(counts) {
  return Object.entries(counts || {}).sort((a, b) => b[1] - a[1]).map(([label, n]) => `${label} ${n}`).join(", ");
}

/** A dataset in one line, to choose it by: "topics.csv: 1000 examples, 38.2 kB; labels sports 104, ... (id)". */
export function describeDataset(d) {
  const labels = d.task === "unlabelled" ? "unlabelled: texts alone" : `labels ${countsText(d.label_counts)}`;
  const size = d.size_bytes === undefined ? "" : `, ${formatBytes(d.size_bytes)}`;
  return `${d.filename}: ${d.examples} examples${size}; ${labels} (${d.id})`;
}

/** The data a job or version was trained on: its file name, with the id as the API's hint. */
export function datasetCell(id, filename) {
  if (!id) return el("td", { class: "muted" }, "");
  return el("td", { class: "text", "data-testid": "dataset-name", title: `dataset_id ${id}` },
            filename || "(deleted)", " ", el("code", { class: "api-name" }, id));
}

function labelBars(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0) || 1;
  return el("div", { class: "bars" }, ...Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([label, n]) => {
    const bar = el("span", { class: "bar" });
    bar.style.setProperty("--share", String(n / total));
    return el("div", { class: "bar-row", "data-testid": "label-count" }, el("span", { class: "bar-label" }, label),
              el("span", { class: "bar-track" }, bar), el("span", { class: "num" }, String(n)));
  }));
}

const UNITS = { words: "words", characters: "characters" };

/** A dataset's summary (what POST /v1/datasets answers) as a definition list; each term with its API name. */
function summary(d) {
  const dropped = Object.entries(d.dropped || {}).map(([why, n]) => `${n} ${why.replaceAll("_", " ")}`).join(", ");
  const scripts = Object.entries(d.scripts || {}).map(([s, share]) => `${s} ${(share * 100).toFixed(0)}%`).join(", ");
  const length = d.length
    ? el("span", { "data-testid": "summary-length", "data-unit": d.length.unit }, `${stats(d.length)} ${UNITS[d.length.unit] || d.length.unit}`)
    : "";
  const rows = [
    ["Dataset id", "id", el("code", { "data-testid": "summary-id" }, d.id)],
    ["File", "filename", `${d.filename} (${d.format}${d.encoding ? `, ${d.encoding}` : ""}, ${formatBytes(d.size_bytes)})`],
    ["Rows", "rows_read", el("span", { "data-testid": "summary-rows" }, `${d.rows_read ?? "?"} read, ${d.examples} examples kept`)],
    ["Dropped", "dropped", dropped || "none"],
    ["Task", "task", el("span", { "data-testid": "summary-task" }, TASKS[d.task] || d.task || "")],
    ["Labels", "label_counts", d.task === "unlabelled" ? "none" : labelBars(d.label_counts)],
    ["Duplicates", "duplicate_texts", el("span", { "data-testid": "summary-duplicates" }, `${d.duplicate_texts} (texts that occur more than once)`)],
    ["Conflicts", "conflicting_texts", el("span", { "data-testid": "summary-conflicts" }, `${d.conflicting_texts} (texts given different labels)`)],
    [`Length (${UNITS[d.length && d.length.unit] || "words"} per text)`, "length", length],
    ["Length in characters", "length_chars", stats(d.length_chars)],
    ["Length in tokens", "length_tokens", stats(d.length_tokens)],
    ["Scripts", "scripts", scripts],
  ];
  return el("dl", { class: "summary" }, ...rows.flatMap(([term, name, value]) => [
    el("dt", { title: `${name} in the API's answer` }, `${term} `, apiName(name)), el("dd", {}, value)]));
}

function showSummary(dataset, heading) {
  $("dataset-summary").replaceChildren(el("h2", {}, heading), summary(dataset));
  $("dataset-summary").hidden = false;
}

/**
 * Upload `file` (POST /v1/datasets, with `fields` such as text_column); the dataset's summary. The
 * other tabs learn of it through the "datasets-changed" event.
 */
export async function uploadDataset(file, fields = {}) {
  const form = new FormData();
  form.append("file", file, file.name);
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  const dataset = await api("POST", "/v1/datasets", { form });
  document.dispatchEvent(new CustomEvent("datasets-changed", { detail: dataset.id }));
  return dataset;
}

async function upload(file) {
  showError($("upload-error"), null);
  const fields = {};
  for (const input of $("upload-form").querySelectorAll("details input")) {
    if (input.value.trim()) fields[input.name] = input.value.trim();
  }
  $("drop-zone").classList.add("busy");
  try {
    showSummary(await uploadDataset(file, fields), `Uploaded ${file.name}`);
  } catch (error) {
    showError($("upload-error"), error);
  } finally {
    $("drop-zone").classList.remove("busy");
    $("upload-input").value = "";
  }
}

export async function refreshDatasets() {
  try {
    const datasets = await api("GET", "/v1/datasets");
    fillTable($("datasets-table"), datasets.map((d) => {
      const show = el("button", { type: "button", "data-testid": `show-${d.id}` }, "summary");
      show.addEventListener("click", () => showSummary(d, `Dataset ${d.id}`));
      return el("tr", { "data-testid": "dataset-row", "data-id": d.id },
        el("td", {}, el("code", {}, d.id)), el("td", { class: "text" }, d.filename), el("td", { class: "num" }, String(d.examples)),
        el("td", { class: "num" }, formatBytes(d.size_bytes)),
        el("td", { class: "text" }, d.task === "unlabelled" ? "(unlabelled)" : countsText(d.label_counts)),
        el("td", {}, formatTime(d.created_at)), el("td", {}, show));
    }));
    return datasets;
  } catch (error) {
    showError($("upload-error"), error);
    return [];
  }
}

export function setUpData() {
  const zone = $("drop-zone");
  $("upload-input").addEventListener("change", (event) => {
    if (event.target.files.length) upload(event.target.files[0]);
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if ($("upload-input").disabled) return;
    const file = event.dataTransfer.files[0];
    if (file) upload(file);
  });
}
