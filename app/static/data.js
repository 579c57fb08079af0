// The Data tab: upload a file (drag and drop or the file input), its summary, the datasets.
// `uploadDataset` is the one upload the page makes (the Score tab uploads with it too).

import { api, el, fillTable, formatNumber, formatTime, showError } from "./api.js";

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

function labelBars(counts) {
  const total = Object.values(counts).reduce((a, b) => a + b, 0) || 1;
  return el("div", { class: "bars" }, ...Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([label, n]) => {
    const bar = el("span", { class: "bar" });
    bar.style.setProperty("--share", String(n / total));
    return el("div", { class: "bar-row", "data-testid": "label-count" }, el("span", { class: "bar-label" }, label),
              el("span", { class: "bar-track" }, bar), el("span", { class: "num" }, String(n)));
  }));
}

/** A dataset's summary (what POST /v1/datasets answers) as a definition list. */
function summary(d) {
  const dropped = Object.entries(d.dropped || {}).map(([why, n]) => `${n} ${why.replaceAll("_", " ")}`).join(", ");
  const scripts = Object.entries(d.scripts || {}).map(([s, share]) => `${s} ${(share * 100).toFixed(0)}%`).join(", ");
  const rows = [
    ["dataset id", el("code", { "data-testid": "summary-id" }, d.id)],
    ["file", `${d.filename} (${d.format}${d.encoding ? `, ${d.encoding}` : ""}, ${d.size_bytes} bytes)`],
    ["rows", el("span", { "data-testid": "summary-rows" }, `${d.rows_read ?? "?"} read, ${d.examples} examples kept`)],
    ["dropped", dropped || "none"],
    ["task", el("span", { "data-testid": "summary-task" }, TASKS[d.task] || d.task || "")],
    ["labels", d.task === "unlabelled" ? "none" : labelBars(d.label_counts)],
    ["duplicates", el("span", { "data-testid": "summary-duplicates" }, `${d.duplicate_texts} (texts that occur more than once)`)],
    ["conflicts", el("span", { "data-testid": "summary-conflicts" }, `${d.conflicting_texts} (texts given different labels)`)],
    ["length (characters)", stats(d.length_chars)],
    ["length (words)", stats(d.length_words)],
    ["length (tokens)", stats(d.length_tokens)],
    ["scripts", scripts],
  ];
  return el("dl", { class: "summary" }, ...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
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
        el("td", { class: "text" }, d.task === "unlabelled" ? "(unlabelled)" : Object.keys(d.label_counts).join(", ")),
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
