// The Score tab: every text of a dataset (one uploaded before, or a file uploaded here) labelled by
// the model picked at the top of the page, in a batch job (POST /v1/batch-jobs); its progress from
// the job's event stream; the result as a CSV or JSONL download; the recent batch jobs.

import { api, el, fillTable, formatNumber, formatTime, serverEvents, showError } from "./api.js";
import { uploadDataset } from "./data.js";

const $ = (id) => document.getElementById(id);
const ENDED = ["succeeded", "failed", "cancelled", "interrupted"];
let model = null; // the picked model as GET /v1/models describes it
let datasets = []; // as GET /v1/datasets lists them: the jobs table names each job's file
let jobs = []; // as GET /v1/batch-jobs lists them
let following = null; // the AbortController of the event stream being read

const jobPath = (id, ...parts) => ["/v1/batch-jobs", encodeURIComponent(id), ...parts].join("/");

function fileName(datasetId) {
  const d = datasets.find((x) => x.id === datasetId);
  return d ? d.filename : datasetId;
}

/** The links to a succeeded job's result; the server names the file (Content-Disposition). */
function downloads(id) {
  return [el("a", { href: jobPath(id, "result"), download: `batch-${id}.csv`, "data-testid": "score-download-csv" },
             "download CSV"), " ",
          el("a", { href: `${jobPath(id, "result")}?format=jsonl`, download: `batch-${id}.jsonl`,
                    "data-testid": "score-download-jsonl" }, "JSONL")];
}

/** Score with `info` from now on. */
export function setScoreModel(info) {
  model = info;
  $("score-model").textContent = info ? `${info.name}, version ${info.active_version}` : "no model";
}

function datasetOption(d, selected) {
  const what = d.task === "unlabelled" ? "texts" : "examples";
  return el("option", { value: d.id, selected }, `${d.id}: ${d.filename} (${d.examples} ${what})`);
}

/** The datasets to choose from, the newest first; the chosen one stays chosen while it exists. */
export function setScoreDatasets(items) {
  datasets = items || [];
  const select = $("score-dataset"), current = select.value;
  select.replaceChildren(...datasets.map((d) => datasetOption(d, d.id === current)));
  showJobs();
}

async function uploadToScore(event) {
  const file = event.target.files[0];
  if (!file) return;
  showError($("score-error"), null);
  $("score-uploaded").textContent = `uploading ${file.name}...`;
  try {
    const d = await uploadDataset(file);
    if (![...$("score-dataset").options].some((o) => o.value === d.id)) $("score-dataset").prepend(datasetOption(d, true));
    $("score-dataset").value = d.id;
    $("score-uploaded").textContent = `${file.name}: ${d.examples} texts (dataset ${d.id}${d.task === "unlabelled" ? ", unlabelled" : ""})`;
  } catch (error) {
    $("score-uploaded").textContent = "";
    showError($("score-error"), error);
  } finally {
    event.target.value = "";
  }
}

function describeProgress(p) {
  const done = p.rows_done || 0, total = p.rows_total || 0;
  const share = total ? ` (${formatNumber((100 * done) / total, 1)}%)` : "";
  const speed = p.rows_per_s ? `, ${formatNumber(p.rows_per_s, 0)} texts a second` : "";
  return `${done} of ${total} texts scored${share}${speed}`;
}

function showProgress(p) {
  $("score-job-bar").max = Math.max(1, p.rows_total || 0);
  $("score-job-bar").value = p.rows_done || 0;
  $("score-job-progress").textContent = describeProgress(p);
}

/** Show a batch job's state and progress from its event stream until it ends; then its download links. */
export async function follow(jobId) {
  if (following) following.abort();
  const controller = (following = new AbortController());
  const progress = {};
  showError($("score-error"), null);
  $("score-job").hidden = false;
  $("score-job-id").textContent = jobId;
  $("score-job-state").textContent = "";
  $("score-job-what").textContent = "";
  $("score-job-download").hidden = true;
  $("score-job-download").replaceChildren();
  showProgress(progress);
  try {
    for await (const { event, data } of serverEvents(jobPath(jobId, "events"), controller.signal)) {
      if (event === "snapshot" || event === "end") {
        Object.assign(progress, data.progress);
        $("score-job-what").textContent = `${fileName(data.dataset_id)} with ${data.model}, version ${data.model_version}`;
      } else if (event === "progress") {
        Object.assign(progress, data);
      }
      if (event === "snapshot" || event === "state" || event === "end") $("score-job-state").textContent = data.state;
      showProgress(progress);
      if (event === "end") {
        if (data.state === "succeeded") {
          $("score-job-download").replaceChildren(...downloads(jobId));
          $("score-job-download").hidden = false;
        } else {
          showError($("score-error"), `batch job ${jobId} ${data.state}${data.error ? `: ${data.error}` : ""}`);
        }
        refreshBatchJobs();
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) showError($("score-error"), error);
  }
}

async function submit(event) {
  event.preventDefault();
  showError($("score-error"), null);
  if (following) following.abort(); // the job shown before is not this one: it goes, so nothing stale stays
  $("score-job").hidden = true;
  if (!model) return showError($("score-error"), "no model to score with: pick one at the top of the page");
  event.submitter.disabled = true;
  try {
    const job = await api("POST", "/v1/batch-jobs", { json: { dataset_id: $("score-dataset").value, model: model.name } });
    follow(job.id);
    refreshBatchJobs();
  } catch (error) {
    showError($("score-error"), error);
  } finally {
    event.submitter.disabled = false;
  }
}

function jobRow(job) {
  let action = null;
  if (job.state === "succeeded") {
    action = downloads(job.id);
  } else if (!ENDED.includes(job.state)) {
    action = el("button", { type: "button", "data-testid": `score-follow-${job.id}` }, "progress");
    action.addEventListener("click", () => follow(job.id));
  }
  return el("tr", { "data-testid": "score-job-row", "data-id": job.id, "data-state": job.state },
    el("td", {}, el("code", {}, job.id)), el("td", { class: "text" }, fileName(job.dataset_id)), el("td", {}, job.model),
    el("td", {}, job.version), el("td", { class: "num" }, `${job.rows_done} of ${job.rows_total}`),
    el("td", { title: job.error || "" }, job.state), el("td", {}, formatTime(job.created_at)), el("td", {}, action));
}

function showJobs() {
  fillTable($("score-jobs-table"), jobs.map(jobRow));
}

export async function refreshBatchJobs() {
  try {
    jobs = await api("GET", "/v1/batch-jobs?limit=20");
    showJobs();
  } catch (error) {
    showError($("score-error"), error);
  }
}

export function setUpScore() {
  $("score-form").addEventListener("submit", submit);
  $("score-upload").addEventListener("change", uploadToScore);
}
