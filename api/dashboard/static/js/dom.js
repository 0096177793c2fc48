// Small DOM helpers: elements built from data (never from HTML strings), formatting, notices.

/** An element: `h("a", {href, onclick}, "text", child)`; `on*` attributes become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked" || key === "disabled" || key === "selected") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldId = 0;

/** A labelled form control: the label's `for` points at the control. */
export function field(text, control, hint) {
  if (!control.id) control.id = `f${++fieldId}`;
  return h("div", { class: "field" }, h("label", { for: control.id }, text), control, hint ? h("small", { class: "muted" }, hint) : null);
}

export function select(name, options, value, attrs = {}) {
  return h(
    "select",
    { name, ...attrs },
    options.map(([v, text]) => h("option", { value: v, selected: v === value }, text)),
  );
}

export function fmtDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const thisYear = d.getFullYear() === new Date().getFullYear();
  return d.toLocaleString(undefined, { year: thisYear ? undefined : "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function fmtNum(value, digits = 3) {
  if (value === undefined || value === null || Number.isNaN(value)) return "–";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString();
  return Number(value.toPrecision(digits)).toString();
}

export function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

export function fmtSeconds(s) {
  if (s === undefined || s === null) return "";
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}

/** A notice at the top of the page: errors stay until dismissed, others fade. */
export function notify(message, kind = "info") {
  const box = document.getElementById("toasts");
  const close = h("button", { type: "button", class: "link", "aria-label": "Dismiss" }, "×");
  const toast = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : null }, h("span", {}, message), close);
  close.addEventListener("click", () => toast.remove());
  box.append(toast);
  if (kind !== "error") setTimeout(() => toast.remove(), 4000);
  return toast;
}

/** Show an error from the API (its `detail`) or any other failure. */
export function showError(err, prefix = "") {
  const message = err && err.detail ? err.detail : String(err && err.message ? err.message : err);
  return notify(prefix ? `${prefix}: ${message}` : message, "error");
}

/** Call `fn` at most once per `ms`, trailing, so a burst of events makes one refresh. */
export function debounce(fn, ms = 250) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

export function badge(status) {
  return h("span", { class: `badge ${status}` }, status);
}

/**
 * A horizontally scrolling box for a table: it marks itself `more-right` / `more-left` while columns are out of
 * sight, which the style sheet turns into an edge shadow and a "scroll →" cue (a phone shows only part of a table).
 */
export function tableWrap(...children) {
  const wrap = h("div", { class: "table-wrap" }, ...children);
  const update = () => {
    const hidden = wrap.scrollWidth - wrap.clientWidth;
    wrap.classList.toggle("more-right", hidden > 2 && wrap.scrollLeft < hidden - 2);
    wrap.classList.toggle("more-left", hidden > 2 && wrap.scrollLeft > 2);
  };
  wrap.addEventListener("scroll", update, { passive: true });
  new ResizeObserver(update).observe(wrap);
  new MutationObserver(update).observe(wrap, { childList: true });
  return wrap;
}

/** How long ago: "just now", "5 min ago", "3 h ago", "2 days ago"; `never` when there is no time. */
export function fmtAgo(iso, never = "never") {
  if (!iso) return never;
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 10) return "just now";
  if (s < 60) return `${Math.floor(s)} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  const days = Math.floor(s / 86400);
  return `${days} day${days === 1 ? "" : "s"} ago`;
}

/**
 * A button that copies `text`; the Clipboard API needs a secure context, which a server on the LAN over plain
 * http is not, so a selected hidden text area and execCommand stand in there.
 */
export function copyButton(text, label = "Copy", attrs = {}) {
  const button = h("button", { type: "button", class: "small copy", ...attrs }, label);
  button.addEventListener("click", async () => {
    let done = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        done = true;
      }
    } catch {
      // The fallback below gets its turn.
    }
    if (!done) {
      const area = h("textarea", { class: "sr-only", readonly: true, "aria-hidden": "true" });
      area.value = text;
      document.body.append(area);
      area.select();
      done = document.execCommand("copy");
      area.remove();
    }
    button.textContent = done ? "Copied" : "Select and copy it by hand";
    setTimeout(() => { button.textContent = label; }, 2500);
  });
  return button;
}
