// The datasets page: every dataset with clip counts per label and readiness; create and delete.

import { api, subscribe } from "../api.js";
import { h, fill, field, debounce, notify, showError, fmtSeconds, tableWrap } from "../dom.js";

export function render(main) {
  const list = tableWrap(h("p", { class: "muted" }, "Loading datasets…"));
  const name = h("input", { name: "name", required: true, pattern: "[a-z0-9][a-z0-9_\\-]{0,63}", autocomplete: "off", placeholder: "kitchen" });
  const phrase = h("input", { name: "wake_phrase", autocomplete: "off", placeholder: "hey jarvis" });
  const description = h("input", { name: "description", autocomplete: "off" });
  const form = h(
    "form",
    { class: "card create-form", "aria-labelledby": "create-title" },
    h("h2", { id: "create-title" }, "New dataset"),
    h("div", { class: "row" },
      field("Name", name, "lowercase letters, digits, - and _"),
      field("Wake phrase", phrase),
      field("Description", description),
    ),
    h("button", { type: "submit", class: "primary" }, "Create dataset"),
  );
  // The API judges names; the browser's own check would hide its explanation.
  form.noValidate = true;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { name: name.value.trim() };
    if (phrase.value.trim()) body.wake_phrase = phrase.value.trim();
    if (description.value.trim()) body.description = description.value.trim();
    try {
      const created = await api.post("/datasets", body);
      notify(`Created dataset ${created.name}`);
      location.hash = `#/datasets/${encodeURIComponent(created.name)}`;
    } catch (err) {
      showError(err, "Could not create the dataset");
    }
  });

  fill(main, h("h1", {}, "Datasets"), form, h("section", { class: "card", "aria-labelledby": "list-title" }, h("h2", { id: "list-title" }, "All datasets"), list));

  let alive = true;
  async function refresh() {
    try {
      const datasets = await api.get("/datasets");
      if (alive) fill(list, datasetTable(datasets, refresh));
    } catch (err) {
      if (alive) fill(list, h("p", { class: "error" }, err.detail || String(err)));
    }
  }
  refresh();
  const later = debounce(refresh, 300);
  const source = subscribe("/events", {}, (event) => {
    if (event.type.startsWith("dataset.")) later();
  }, later);
  return () => {
    alive = false;
    source.close();
  };
}

function datasetTable(datasets, refresh) {
  if (!datasets.length) return h("p", { class: "muted" }, "No datasets yet: create one above.");
  return h(
    "table",
    { class: "datasets" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Wake phrase"), h("th", { scope: "col", class: "num" }, "Positive"),
      h("th", { scope: "col", class: "num" }, "Negative"), h("th", { scope: "col", class: "num" }, "Noise"), h("th", { scope: "col", class: "num" }, "Audio"),
      h("th", { scope: "col" }, "Training"), h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")),
    )),
    h("tbody", {}, datasets.map((d) => h("tr", { "data-dataset": d.name },
      h("th", { scope: "row" }, h("a", { href: `#/datasets/${encodeURIComponent(d.name)}` }, d.name)),
      h("td", { class: "phrase" }, d.wake_phrase || ""),
      h("td", { class: "num", "data-label": "positive" }, d.clip_counts.positive || 0),
      h("td", { class: "num", "data-label": "negative" }, d.clip_counts.negative || 0),
      h("td", { class: "num", "data-label": "noise" }, d.clip_counts.noise || 0),
      h("td", { class: "num" }, fmtSeconds(d.total_seconds)),
      h("td", { class: "training" }, d.training.ready
        ? h("span", { class: "badge succeeded" }, "ready")
        : h("span", { class: "badge queued", title: d.training.missing.join(", ") }, `needs ${d.training.missing.join(", ")}`)),
      h("td", {}, deleteButton(d, refresh)),
    ))),
  );
}

/** Delete in two presses: the first asks, the second (within a few seconds) deletes. */
function deleteButton(dataset, refresh) {
  const clips = Object.values(dataset.clip_counts).reduce((a, b) => a + b, 0) + dataset.deleted_clips;
  const button = h("button", { type: "button", class: "danger small", "aria-label": `Delete dataset ${dataset.name}` }, "Delete");
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = clips ? `Delete with ${clips} clips?` : "Really delete?";
      setTimeout(() => {
        armed = false;
        button.textContent = "Delete";
      }, 5000);
      return;
    }
    try {
      await api.del(`/datasets/${encodeURIComponent(dataset.name)}`, clips ? { force: "true" } : {});
      notify(`Deleted dataset ${dataset.name}`);
      refresh();
    } catch (err) {
      showError(err, "Could not delete the dataset");
    }
  });
  return button;
}
