// The page: tabs, the API key, and what each tab needs from the others.

import { apiKey, setApiKey } from "./api.js";
import { refreshDatasets, setUpData } from "./data.js";
import { refreshModels, setCompareChoices, setUpModels } from "./models.js";
import { buildTrainForm, refreshJobs, setChoices, setUpTrain } from "./train.js";
import { setUpTry } from "./try.js";

const $ = (id) => document.getElementById(id);
const TABS = ["try", "data", "train", "models"];

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
    ? "Key set for this tab (sessionStorage): uploads, training and activation are open to its scopes."
    : "No API key: read-only. Predictions and lists work; enter a key to upload, train and activate.";
  $("drop-zone").classList.toggle("disabled", !key);
}

let models = null, datasets = null;

async function reloadModels() {
  models = await refreshModels();
  setChoices("models", models);
  setCompareChoices(models, datasets);
}

async function reloadDatasets() {
  datasets = await refreshDatasets();
  setChoices("datasets", datasets);
  setCompareChoices(models, datasets);
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
  setUpTry();
  setUpData();
  setUpTrain();
  setUpModels();
  document.addEventListener("datasets-changed", reloadDatasets);
  document.addEventListener("models-changed", reloadModels);
  applyKey();
  await Promise.all([buildTrainForm().catch((error) => { $("train-error").textContent = error.message; $("train-error").hidden = false; }),
                     reloadModels(), reloadDatasets(), refreshJobs()]);
  applyKey(); // the train form's fields exist now
  document.body.dataset.ready = "true";
}

start();
