// What the page calls a field, with its API name beside it: readers see "Learning rate", and the
// hint (`learning_rate`, and "config.learning_rate" on hover) tells them what to send over HTTP.
// One list, so that the Train form, the tables and the summaries name a thing the same way.

import { el } from "./api.js";

const LABELS = {
  // the training job (POST /v1/train-jobs)
  dataset_id: "Training data",
  eval_dataset_id: "Evaluation data",
  model: "Model",
  promote: "Activate the new version",
  time_limit_s: "Time limit (seconds)",
  processes: "Training processes",
  base_version: "Start from version",
  // its hyperparameters (config)
  cell: "RNN cell",
  layers: "Layers",
  embedding_dim: "Embedding size",
  hidden_size: "Hidden size",
  freeze_embeddings: "Freeze the embeddings",
  max_length: "Longest text read (tokens)",
  min_frequency: "Least word frequency",
  max_vocab_size: "Largest vocabulary",
  pretrained: "Pretrained embeddings",
  lr_schedule: "Learning-rate schedule",
  max_grad_norm: "Gradient clipping (norm)",
  patience: "Patience (epochs)",
  seed: "Random seed",
  dev_fraction: "Dev share",
  max_steps: "Most steps",
  // fields of answers the page shows
  dataset_filename: "Trained on",
  filename: "File",
  size_bytes: "Size",
  label_counts: "Labels",
  length: "Length",
};

/** "learning_rate" -> "Learning rate"; the list above where a plain reading would mislead. */
export function humanLabel(name) {
  const words = LABELS[name] || name.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** The API's name as a small hint; `path` is where it sits in a request or answer (config.learning_rate). */
export function apiName(name, path = name) {
  return el("code", { class: "api-name", "data-testid": "api-name", title: `the API's name: ${path}` }, name);
}

/** A readable label followed by its API name: `<label>Learning rate <code>learning_rate</code></label>` (or a th, dt...). */
export function labelled(tag, name, { path = name, attrs = {} } = {}) {
  return el(tag, { ...attrs, title: `${humanLabel(name)}: ${path} in the API` }, `${humanLabel(name)} `, apiName(name, path));
}
