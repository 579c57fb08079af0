// Talking to the API, and building the page's elements safely.
//
// Every text that comes from a user, a dataset or the server is put into the page as text
// (text nodes, textContent), never parsed as HTML: `el` below is the one way the page makes
// elements, and it refuses event-handler and style attributes.

const KEY_NAME = "sentiment-api-key";
const SVG_NS = "http://www.w3.org/2000/svg";

export function apiKey() {
  return sessionStorage.getItem(KEY_NAME) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_NAME, key);
  else sessionStorage.removeItem(KEY_NAME);
  document.dispatchEvent(new CustomEvent("api-key-changed"));
}

export class ApiError extends Error {
  constructor(status, body) {
    const message = body && body.message ? body.message : `HTTP ${status}`;
    super(status === 401 || status === 403 ? `${message} (status ${status}: check the API key)` : message);
    this.status = status;
    this.body = body;
  }
}

function headers(extra = {}) {
  const key = apiKey();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

/** One API call: JSON (`json`) or multipart (`form`) body; the answer's JSON, or an ApiError. */
export async function api(method, path, { json, form, signal } = {}) {
  const init = { method, signal, credentials: "omit", cache: "no-store", headers: headers() };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form; // the browser sets the multipart boundary
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { message: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

/** The path of a named model's resource: modelPath("topics", "versions", "v2") is /v1/models/topics/versions/v2. */
export function modelPath(name, ...parts) {
  return ["/v1/models", name, ...parts].map((part, i) => (i ? encodeURIComponent(part) : part)).join("/");
}

/**
 * Server-Sent Events read with fetch (EventSource cannot send an Authorization header): yields
 * {event, data} with data parsed as JSON, until the stream ends or `signal` aborts it.
 */
export async function* serverEvents(path, signal) {
  const response = await fetch(path, { headers: headers({ Accept: "text/event-stream" }), signal,
                                       credentials: "omit", cache: "no-store" });
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch { /* not JSON */ }
    throw new ApiError(response.status, body);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue; // a keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") event = text;
        else if (field === "data") data.push(text);
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (/^on/i.test(name) || name === "style") throw new Error(`attribute ${name} is not allowed`);
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = String(value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** `el("td", {class: "num"}, "text", otherNode)`: an element; strings become text nodes. */
export function el(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements. */
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Show `error` (an Error, or a message) in `node`; nothing hides it. */
export function showError(node, error) {
  node.textContent = error ? (error.message || String(error)) : "";
  node.hidden = !error;
}

export function formatNumber(value, digits = 3) {
  if (value === null || value === undefined || value === "") return "";
  if (typeof value !== "number") return String(value);
  return Number.isInteger(value) ? String(value) : value.toFixed(digits);
}

export function formatTime(seconds) {
  return seconds ? new Date(seconds * 1000).toLocaleString() : "";
}

/** Replace a table body's rows. */
export function fillTable(table, rows) {
  table.tBodies[0].replaceChildren(...rows);
}
