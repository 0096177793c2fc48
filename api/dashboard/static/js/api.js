// The public API as the dashboard sees it: base address and token, JSON requests, errors, event streams.

const KEY_API = "wake-training.api";
const KEY_TOKEN = "wake-training.token";

export const config = { base: "", token: "" };

/** Read the API address and token: `?api=` / `?token=` in the page address win, then what was saved. */
export function loadConfig() {
  const params = new URLSearchParams(location.search);
  if (params.has("api")) localStorage.setItem(KEY_API, params.get("api"));
  if (params.has("token")) {
    localStorage.setItem(KEY_TOKEN, params.get("token"));
    // A token does not belong in the address bar, the history or a shared link.
    params.delete("token");
    const query = params.toString();
    history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}${location.hash}`);
  }
  config.base = (localStorage.getItem(KEY_API) || "").replace(/\/+$/, "");
  config.token = localStorage.getItem(KEY_TOKEN) || "";
}

export function saveConfig(base, token) {
  localStorage.setItem(KEY_API, base.trim());
  localStorage.setItem(KEY_TOKEN, token.trim());
  loadConfig();
}

/** A refused or failed request; `detail` is the API's own explanation, shown to the user as it is. */
export class ApiError extends Error {
  constructor(status, detail, body) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }
}

/** The absolute address of an API path, with query parameters (undefined and null ones left out). */
export function apiUrl(path, params = {}) {
  const url = new URL(config.base + path, location.href);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, String(value));
  }
  return url.toString();
}

/** An address the browser loads by itself (audio, downloads, event streams), which cannot carry a header. */
export function authedUrl(path, params = {}) {
  return apiUrl(path, config.token ? { ...params, access_token: config.token } : params);
}

/** A call to the API: JSON (or text) back, or with `binary` the body's bytes as an ArrayBuffer (a model file). */
export async function request(method, path, { params, json, form, binary = false } = {}) {
  const headers = {};
  if (config.token) headers.Authorization = `Bearer ${config.token}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(apiUrl(path, params), { method, headers, body });
  } catch (err) {
    throw new ApiError(0, `cannot reach the API at ${config.base || location.origin} (${err.message}); check Settings`);
  }
  if (response.status === 204) return null;
  if (binary && response.ok) return response.arrayBuffer();
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    let detail = data && typeof data === "object" && data.detail ? data.detail : `${response.status} ${response.statusText}`;
    if (response.status === 401) detail += " (set the API token under Settings)";
    throw new ApiError(response.status, detail, data);
  }
  return data;
}

export const api = {
  get: (path, params) => request("GET", path, { params }),
  post: (path, json, params) => request("POST", path, { json, params }),
  put: (path, json) => request("PUT", path, { json }),
  patch: (path, json) => request("PATCH", path, { json }),
  del: (path, params) => request("DELETE", path, { params }),
  upload: (path, form) => request("POST", path, { form }),
  bytes: (path) => request("GET", path, { binary: true }),
};

export const JOB_EVENTS = [
  "job.queued", "job.started", "job.progress", "job.log", "job.cancel_requested",
  "job.retried", "job.succeeded", "job.failed", "job.cancelled",
];
export const DATASET_EVENTS = [
  "dataset.created", "dataset.updated", "dataset.deleted", "dataset.clip_added", "dataset.clip_updated",
  "dataset.clip_deleted", "dataset.clip_restored",
];
export const DEPLOYMENT_EVENTS = ["deployment.updated"];
export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);

/**
 * Server-sent events of `path`, each decoded and handed to `onEvent(event)`; the browser reconnects with
 * Last-Event-ID by itself. Returns the EventSource, which the caller closes.
 */
export function subscribe(path, params, onEvent, onOpen) {
  const source = new EventSource(authedUrl(path, params));
  const handle = (message) => {
    try {
      onEvent(JSON.parse(message.data));
    } catch (err) {
      console.warn("bad event", err);
    }
  };
  for (const type of [...JOB_EVENTS, ...DATASET_EVENTS, ...DEPLOYMENT_EVENTS]) source.addEventListener(type, handle);
  if (onOpen) source.addEventListener("open", onOpen);
  return source;
}
