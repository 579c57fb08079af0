// The Train tab: a form generated from the job schema in /openapi.json (its model field picks an
// existing model or names a new one), the job's live curves from its event stream, cancel, and the
// list of jobs.

import { api, el, fillTable, formatNumber, formatTime, serverEvents, showError } from "./api.js";
import { lineChart } from "./charts.js";
import { labelled } from "./labels.js";
import { datasetCell, describeDataset } from "./data.js";

const $ = (id) => document.getElementById(id);
const ENDED = ["succeeded", "failed", "cancelled", "interrupted"];
const CHOICES = { dataset_id: "datasets", eval_dataset_id: "datasets", base_version: "versions" };
// a model's name as the API accepts it (TrainJobRequest.model), written for the HTML pattern attribute
const MODEL_NAME = "[a-z0-9][a-z0-9\\-]{0,62}";
const fields = []; // [{name, group, read(), isDefault()}]
const choices = { datasets: [], models: [] }; // models: as GET /v1/models lists them
let following = null; // the AbortController of the event stream being read

function resolve(spec, schema) {
  return schema && schema.$ref ? spec.components.schemas[schema.$ref.split("/").pop()] : schema;
}

/** The schema without its `null` alternative, and whether null is allowed. */
function unwrap(spec, prop) {
  if (!prop.anyOf) return { schema: resolve(spec, prop), nullable: false };
  const others = prop.anyOf.filter((s) => s.type !== "null");
  return { schema: resolve(spec, others[0]), nullable: others.length < prop.anyOf.length };
}

function option(value, text, selected) {
  return el("option", { value, selected }, text);
}

/** The model the form names, when it exists: base_version offers its versions. */
function namedModel() {
  const field = fields.find((f) => f.group === "job" && f.name === "model");
  const name = field ? field.read() : null;
  return choices.models.find((m) => m.name === name) || null;
}

/**
 * A dataset as a choice: its file, size and labels (a file with texts alone cannot be trained on).
 * Nothing is chosen until the user chooses: the newest upload is often a small test file.
 */
function datasetOption(d, current) {
  const choice = option(d.id, describeDataset(d), d.id === current);
  choice.disabled = d.task === "unlabelled";
  choice.title = `dataset_id ${d.id}`;
  return choice;
}

function fillChoices(select, kind, required) {
  const current = select.value;
  const model = kind === "versions" ? namedModel() : null;
  const items = kind === "datasets"
    ? choices.datasets.map((d) => datasetOption(d, current))
    : (model ? model.versions : []).map((v) => option(v, `${v}${v === model.active_version ? " (active)" : ""}`, v === current));
  // a required choice starts on a placeholder the browser will not submit (value "": the select is then invalid)
  const none = required ? option("", kind === "datasets" ? "choose a dataset" : "choose one", current === "")
    : option("", "(none)", current === "");
  select.replaceChildren(none, ...items);
  if (!items.some((o) => o.selected)) select.value = "";
}

/** One form control for a property of the schema, with its description as help text. */
function control(spec, name, prop, group, required) {
  const { schema, nullable } = unwrap(spec, prop);
  const id = `${group}-${name}`;
  const def = prop.default === undefined ? null : prop.default;
  let input, read;
  if (group === "job" && name === "model") {
    input = el("input", { id, name, list: "model-names", autocomplete: "off", spellcheck: "false", pattern: MODEL_NAME,
                          title: "an existing model's name, or a new one: lower-case letters, digits and hyphens",
                          placeholder: "an existing model, or a new name" });
    input.addEventListener("input", refreshChoices); // base_version offers the named model's versions
    read = () => input.value.trim() || null;
  } else if (CHOICES[name]) {
    input = el("select", { id, name, required });
    input.dataset.choices = CHOICES[name];
    read = () => input.value || null;
  } else if (schema.enum) {
    input = el("select", { id, name },
      ...(nullable ? [option("", "(none)", def === null)] : []),
      ...schema.enum.map((v) => option(v, v, v === def)));
    read = () => input.value || null;
  } else if (schema.type === "boolean") {
    input = el("input", { id, name, type: "checkbox", checked: def === true });
    read = () => input.checked;
  } else if (schema.type === "integer" || schema.type === "number") {
    input = el("input", { id, name, type: "number", value: def ?? "", min: schema.minimum ?? schema.exclusiveMinimum,
                          max: schema.maximum, step: schema.type === "integer" ? 1 : "any",
                          placeholder: nullable ? "none" : "" });
    read = () => (input.value === "" ? null : Number(input.value));
  } else if (schema.type === "object") {
    input = el("input", { id, name, placeholder: "raw=new,raw=new (e.g. 0=negative,1=positive)" });
    read = () => Object.fromEntries(input.value.split(",").map((p) => p.trim()).filter(Boolean)
      .map((p) => [p.split("=")[0].trim(), p.split("=").slice(1).join("=").trim()]));
  } else {
    input = el("input", { id, name, value: def ?? "", required });
    read = () => input.value.trim() || null;
  }
  input.setAttribute("data-testid", `${group}-${name}`);
  const isDefault = () => JSON.stringify(read()) === JSON.stringify(schema.type === "object" ? (def || {}) : def);
  fields.push({ name, group, read, isDefault, input });
  const path = group === "config" ? `config.${name}` : name;
  return el("div", { class: "field" }, labelled("label", name, { path, attrs: { for: id } }), input,
            el("small", { class: "help" }, prop.description || ""));
}

export async function buildTrainForm() {
  const spec = await api("GET", "/openapi.json");
  const request = spec.components.schemas.TrainJobRequest;
  const config = resolve(spec, request.properties.config);
  fields.length = 0;
  $("train-fields").replaceChildren(...Object.entries(request.properties).filter(([name]) => name !== "config")
    .map(([name, prop]) => control(spec, name, prop, "job", (request.required || []).includes(name))));
  $("config-fields").replaceChildren(...Object.entries(config.properties)
    .map(([name, prop]) => control(spec, name, prop, "config", false)));
  refreshChoices();
}

export function setChoices(kind, items) {
  choices[kind] = items;
  if (kind === "models") $("model-names").replaceChildren(...items.map((m) => el("option", { value: m.name })));
  refreshChoices();
}

/** The model picked at the top of the page becomes the one the form trains. */
export function pickTrainModel(name) {
  const field = fields.find((f) => f.group === "job" && f.name === "model");
  if (field && name) field.input.value = name;
  refreshChoices();
}

/**
 * The form filled to train `model` on `datasetId`, starting from `baseVersion` and activated only if
 * better (training on corrections); false when the dataset is not among the choices.
 */
export function prefillTrain({ model, datasetId, baseVersion }) {
  pickTrainModel(model);
  const field = (name) => fields.find((f) => f.group === "job" && f.name === name);
  for (const [name, value] of [["dataset_id", datasetId], ["base_version", baseVersion], ["promote", "if_better"]]) {
    if (field(name) && value) field(name).input.value = value;
  }
  return Boolean(field("dataset_id")) && field("dataset_id").input.value === datasetId;
}

function refreshChoices() {
  for (const f of fields) {
    if (f.input.dataset.choices) fillChoices(f.input, f.input.dataset.choices, f.input.required);
  }
}

function jobBody() {
  const body = { config: {} };
  for (const f of fields) {
    if (f.group === "config") {
      if (!f.isDefault()) body.config[f.name] = f.read();
    } else if (f.read() !== null) {
      body[f.name] = f.read();
    }
  }
  return body;
}

async function submit(event) {
  event.preventDefault();
  showError($("train-error"), null);
  event.submitter.disabled = true;
  try {
    const job = await api("POST", "/v1/train-jobs", { json: jobBody() });
    follow(job.id);
    refreshJobs();
  } catch (error) {
    showError($("train-error"), error);
  } finally {
    event.submitter.disabled = false;
  }
}

/** What the charts show of a job, from its event stream. */
class Curves {
  constructor() {
    this.progress = {};
    this.loss = []; // [epochs trained, loss] while it trains
    this.epochs = []; // each epoch's metrics
  }

  snapshot(job) {
    this.progress = { ...job.progress };
    this.epochs = [...(job.progress.epochs_done || [])];
    this.addLoss();
  }

  update(changed) {
    Object.assign(this.progress, changed);
    if ("loss" in changed || "step" in changed) this.addLoss();
  }

  addLoss() {
    const p = this.progress;
    if (p.loss === undefined || !p.total_steps) return;
    const at = ((p.epochs || 1) * p.step) / p.total_steps;
    if (!this.loss.length || this.loss[this.loss.length - 1][0] < at) this.loss.push([at, p.loss]);
  }

  draw() {
    const e = (key) => this.epochs.filter((m) => m[key] !== undefined && m[key] !== null).map((m) => [m.epoch, m[key]]);
    $("job-chart").replaceChildren(
      lineChart({ title: "Loss", xLabel: "epochs", testid: "loss-chart", series: [
        { name: "training loss (as it trains)", cls: "s1", points: this.loss },
        { name: "training loss (epoch)", cls: "s2", points: e("train_loss") },
        { name: "dev loss", cls: "s3", points: e("dev_loss") }] }),
      lineChart({ title: "Dev accuracy", xLabel: "epochs", yRange: [0, 1], testid: "accuracy-chart", series: [
        { name: "accuracy", cls: "s4", points: e("dev_accuracy") },
        { name: "macro-F1", cls: "s5", points: e("dev_macro_f1") }] }));
    $("job-points").textContent = String($("job-chart").querySelectorAll("circle").length);
  }
}

function describeProgress(p) {
  if (!p.total_steps) return "";
  return `epoch ${p.epoch} of ${p.epochs}, step ${p.step} of ${p.total_steps} (${formatNumber(p.percent, 1)}%), ` +
    `loss ${formatNumber(p.loss, 4)}, ${formatNumber(p.elapsed_s, 1)} s so far, about ${formatNumber(p.eta_s, 0)} s left`;
}

function describeEnd(job) {
  const r = job.result || {};
  const parts = [job.model_version ? `New version ${job.model_version}${job.model ? ` of ${job.model}` : ""}` : "No new version",
    r.metrics ? `accuracy ${formatNumber(r.metrics.accuracy)}` : "", r.stop_reason ? `stopped: ${r.stop_reason}` : "",
    r.promotion ? `promotion: ${r.promotion.reason || JSON.stringify(r.promotion)}` : "", job.error || ""];
  return parts.filter(Boolean).join("; ");
}

export async function follow(jobId) {
  if (following) following.abort();
  const controller = (following = new AbortController());
  const curves = new Curves();
  $("job").hidden = false;
  $("job-id").textContent = jobId;
  $("job-result").textContent = "";
  $("job-cancel").dataset.job = jobId;
  curves.draw();
  try {
    for await (const { event, data } of serverEvents(`/v1/train-jobs/${encodeURIComponent(jobId)}/events`, controller.signal)) {
      if (event === "snapshot") curves.snapshot(data);
      else if (event === "progress") curves.update(data);
      else if (event === "epoch") curves.epochs.push(data);
      if (event === "snapshot" || event === "state" || event === "end") {
        $("job-state").textContent = data.state;
        $("job-cancel").hidden = ENDED.includes(data.state);
      }
      if (event === "end") {
        curves.snapshot(data);
        $("job-result").textContent = describeEnd(data);
        document.dispatchEvent(new CustomEvent("models-changed"));
        refreshJobs();
      }
      $("job-progress").textContent = describeProgress(curves.progress);
      curves.draw();
    }
  } catch (error) {
    if (!controller.signal.aborted) showError($("train-error"), error);
  }
}

async function cancel() {
  showError($("train-error"), null);
  try {
    await api("POST", `/v1/train-jobs/${encodeURIComponent($("job-cancel").dataset.job)}/cancel`);
  } catch (error) {
    showError($("train-error"), error);
  }
}

export async function refreshJobs() {
  try {
    const jobs = await api("GET", "/v1/train-jobs?limit=20");
    fillTable($("jobs-table"), jobs.map((job) => {
      const watch = el("button", { type: "button", "data-testid": `follow-${job.id}` }, "curves");
      watch.addEventListener("click", () => follow(job.id));
      return el("tr", { "data-testid": "job-row", "data-id": job.id }, el("td", {}, el("code", {}, job.id)), el("td", {}, job.state),
                el("td", {}, job.model || ""), datasetCell(job.dataset_id, job.dataset_filename), el("td", {}, job.model_version || ""),
                el("td", {}, formatTime(job.created_at)), el("td", {}, watch));
    }));
  } catch (error) {
    showError($("train-error"), error);
  }
}

export function setUpTrain() {
  $("train-form").addEventListener("submit", submit);
  $("job-cancel").addEventListener("click", cancel);
}
