// Corrections of a prediction, from the Try tab: "wrong: it is <label>" (a select of the model's
// labels; a multi-label model's as checkboxes), sent as POST /v1/models/{name}/feedback. The picked
// model's count of corrections shows below, with a button that fills the Train tab to train on them
// (the "train-on-feedback" event; app.js fills the form).

import { api, apiKey, el, modelPath, showError } from "./api.js";

const $ = (id) => document.getElementById(id);
let model = null; // the picked model as GET /v1/models describes it
let predicted = null; // {info, text}: the model and the text of the prediction shown, what a correction corrects
let feedbackLoads = 0; // the latest count asked for: an older answer that comes late is dropped

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** Correct predictions of `info` (the picked model) from now on; its count of corrections shows. */
export function setFeedbackModel(info) {
  const changed = (info && info.name) !== (model && model.name);
  model = info;
  if (changed) {
    predicted = null;
    showFeedbackCount();
  }
}

/** Offer to correct `p`, what `info` predicted for `text`; with no `info`, nothing to correct. */
export function offerCorrection(info, text, p) {
  predicted = info ? { info, text } : null;
  $("feedback-form").hidden = !info;
  if (info) showFeedbackForm(info, p);
}

/** The picked model's corrections (GET /v1/models/{name}/feedback): how many, of which labels. */
async function showFeedbackCount() {
  const ticket = ++feedbackLoads;
  $("feedback-train").hidden = true;
  $("feedback-count").textContent = "";
  if (!model) return;
  const name = model.name;
  try {
    const answer = await api("GET", modelPath(name, "feedback"));
    if (ticket !== feedbackLoads) return;
    showCount(name, answer.items, answer.label_counts);
  } catch (error) {
    if (ticket === feedbackLoads) $("feedback-count").textContent = `Corrections of ${name}: not known (${error.message})`;
  }
}

function showCount(name, items, labelCounts) {
  const labels = labelCounts ? Object.entries(labelCounts).map(([label, n]) => `${label} ${n}`).join(", ") : "";
  $("feedback-count").textContent = items
    ? `${name} has ${plural(items, "correction")}${labels ? ` (${labels})` : ""}.`
    : `No corrections of ${name} yet: after a prediction, say which label is right.`;
  $("feedback-count").dataset.items = String(items);
  $("feedback-train").hidden = !items;
}

/** The correction's controls for `p`: a select of the model's labels (or, multi-label, a checkbox each). */
function showFeedbackForm(info, p) {
  const multi = info.task === "multi_label";
  showError($("feedback-error"), null);
  $("feedback-saved").textContent = "";
  $("feedback-label").hidden = multi;
  $("feedback-labels").hidden = !multi;
  const disabled = !apiKey();
  if (multi) {
    $("feedback-labels").replaceChildren(...info.labels.map((label) => el("label", { class: "inline" },
      el("input", { type: "checkbox", value: label, checked: (p.labels || []).includes(label), disabled,
                    "data-testid": "feedback-choice" }), ` ${label}`)));
  } else {
    // the first label other than the predicted one: a correction says the prediction was wrong
    const other = info.labels.find((label) => label !== p.label) ?? info.labels[0];
    $("feedback-label").replaceChildren(...info.labels.map((label) => el("option", { value: label, selected: label === other }, label)));
  }
}

async function sendFeedback(event) {
  event.preventDefault();
  showError($("feedback-error"), null);
  $("feedback-saved").textContent = "";
  if (!predicted) return;
  const { info, text } = predicted;
  const item = info.task === "multi_label"
    ? { text, labels: [...$("feedback-labels").querySelectorAll("input:checked")].map((box) => box.value) }
    : { text, label: $("feedback-label").value };
  const button = event.submitter;
  button.disabled = true;
  try {
    const answer = await api("POST", modelPath(info.name, "feedback"), { json: { items: [item] } });
    $("feedback-saved").textContent = `Saved: ${plural(answer.items, "correction")} for ${answer.model} so far.`;
    if (model && model.name === info.name) showCount(info.name, answer.items, null);
  } catch (error) {
    showError($("feedback-error"), error);
  } finally {
    button.disabled = false;
  }
}

/** The Train tab, filled to train the picked model on its corrections (the dataset GET /v1/models/{name}/feedback gives). */
async function trainOnFeedback() {
  if (!model) return;
  const name = model.name;
  try {
    const answer = await api("GET", modelPath(name, "feedback"));
    showCount(name, answer.items, answer.label_counts);
    if (!answer.dataset_id) return;
    document.dispatchEvent(new CustomEvent("train-on-feedback", {
      detail: { model: name, datasetId: answer.dataset_id, baseVersion: model.active_version } }));
  } catch (error) {
    $("feedback-count").textContent = `Corrections of ${name}: not known (${error.message})`;
  }
}

export function setUpFeedback() {
  $("feedback-form").addEventListener("submit", sendFeedback);
  $("feedback-train").addEventListener("click", trainOnFeedback);
}
