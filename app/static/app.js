// The page: tabs, the API key, the model picker, and what each tab needs from the others.

import { api, apiKey, el, setApiKey, showError } from "./api.js";
import { refreshDatasets, setUpData } from "./data.js";
import { refreshModels, setCompareChoices, setUpModels } from "./models.js";
import { setUpFeedback } from "./feedback.js";
import { refreshBatchJobs, setScoreDatasets, setScoreModel, setUpScore } from "./score.js";
import { buildTrainForm, pickTrainModel, prefillTrain, refreshJobs, setChoices, setUpTrain } from "./train.js";
import { setTryModel, setUpTry } from "./try.js";

const $ = (id) => document.getElementById(id);
const TABS = ["try", "data", "score", "train", "models"];

function showTab(name) {
  if (!TABS.includes(name)) name = "try";
  for (const tab of TABS) {
    $(`panel-${tab}`).hidden = tab !== name;
    $(`tab-${tab}`).setAttribute("aria-selected", String(tab === name));
  }
}

/** Without a key the page is read-only: the forms that change state are disabled, and say why. */
function applyKey() {
  const key = apiKey();
  for (const node of document.querySelectorAll(".needs-key")) {
    for (const control of node.tagName === "FORM" ? node.elements : [node]) control.disabled = !key;
  }
  for (const note of document.querySelectorAll(".readonly-note")) note.hidden = Boolean(key);
  $("key-status").textContent = key
    ? "Key set for this tab (sessionStorage): uploads, scoring, corrections, training and activation are open to its scopes."
    : "No API key: read-only. Predictions, lists and downloads work; enter a key to upload, score, correct, train and activate.";
  $("drop-zone").classList.toggle("disabled", !key);
}

let catalog = null; // what GET /v1/models answered: {default_model, models: [{name, labels, versions, ...}]}
let picked = null; // the name of the model the tabs work with
let versions = null, datasets = null; // the picked model's versions; the uploaded datasets

function pickedModel() {
  return catalog ? catalog.models.find((m) => m.name === picked) || null : null;
}

function describe(m) {
  if (!m) return "";
  const task = m.task === "multi_label" ? "multi-label" : "single-label";
  return `${task}, ${m.labels.length} labels, serving ${m.active_version}`;
}

/** The models from the API into the picker; the picked one stays picked while it exists. */
async function reloadCatalog() {
  try {
    catalog = await api("GET", "/v1/models");
  } catch (error) {
    showError($("models-error"), error);
    return;
  }
  if (!catalog.models.some((m) => m.name === picked)) picked = catalog.default_model;
  $("model-picker").replaceChildren(...catalog.models.map((m) => el("option", { value: m.name, selected: m.name === picked },
    m.name === catalog.default_model ? `${m.name} (default)` : m.name)));
  $("model-picker").value = picked;
  setChoices("models", catalog.models);
}

/** Every tab to the picked model: Try predicts with it, Score scores with it, Models lists its versions, Train names it. */
async function showPicked() {
  const model = pickedModel();
  $("model-summary").textContent = describe(model);
  setTryModel(model);
  setScoreModel(model);
  versions = await refreshModels(model);
  setCompareChoices(versions, datasets);
}

async function reloadModels() {
  await reloadCatalog();
  await showPicked();
}

async function reloadDatasets() {
  datasets = await refreshDatasets();
  setChoices("datasets", datasets);
  setScoreDatasets(datasets);
  setCompareChoices(versions, datasets);
}

/** From the Try tab: the Train tab, filled to train the model on its corrections (a dataset the page may not list yet). */
async function trainOnFeedback(event) {
  await reloadDatasets();
  showError($("train-error"), prefillTrain(event.detail) ? null
    : `the corrections' dataset ${event.detail.datasetId} is not among the datasets: reload the page`);
  location.hash = "train";
}

function setUpPicker() {
  $("model-picker").addEventListener("change", () => {
    picked = $("model-picker").value;
    pickTrainModel(picked);
    showPicked();
  });
}

function setUpKey() {
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey($("api-key").value.trim());
    $("api-key").value = "";
  });
  $("api-key-forget").addEventListener("click", () => setApiKey(""));
  document.addEventListener("api-key-changed", () => {
    applyKey();
    reloadModels();
  });
}

async function start() {
  for (const tab of TABS) $(`tab-${tab}`).addEventListener("click", () => { location.hash = tab; });
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  showTab(location.hash.slice(1));
  setUpKey();
  setUpPicker();
  setUpTry();
  setUpFeedback();
  setUpData();
  setUpScore();
  setUpTrain();
  setUpModels();
  document.addEventListener("datasets-changed", reloadDatasets);
  document.addEventListener("models-changed", reloadModels);
  document.addEventListener("train-on-feedback", trainOnFeedback);
  applyKey();
  await Promise.all([buildTrainForm().catch((error) => showError($("train-error"), error)),
                     reloadCatalog(), reloadDatasets(), refreshJobs(), refreshBatchJobs()]);
  pickTrainModel(picked); // the form and the catalog both exist now
  await showPicked();
  applyKey(); // the train form's fields exist now
  document.body.dataset.ready = "true";
}

start();
