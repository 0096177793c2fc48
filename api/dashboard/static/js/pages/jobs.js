// Every job, newest first, live; and the job table the dataset page shares.

import { api, subscribe } from "../api.js";
import { h, fill, badge, debounce, fmtDate, fmtNum, fmtSeconds, tableWrap } from "../dom.js";

export function render(main) {
  const body = tableWrap(h("p", { class: "muted" }, "Loading jobs…"));
  // Ticked jobs outlive the table, which is redrawn on every job event.
  const selected = new Set();
  const compare = h("button", { type: "button", class: "small", disabled: true }, "Compare selected");
  const showSelection = () => {
    compare.disabled = selected.size < 2;
    compare.textContent = selected.size ? `Compare ${selected.size} selected` : "Compare selected";
  };
  compare.addEventListener("click", () => {
    location.hash = `#/compare?jobs=${[...selected].join(",")}`;
  });
  fill(main, h("h1", {}, "Jobs"), h("section", { class: "card" },
    h("div", { class: "card-head compare-bar" }, h("p", { class: "muted" }, "Tick two or more succeeded training jobs to compare them side by side."), compare),
    body));
  let alive = true;
  async function refresh() {
    try {
      const jobs = await api.get("/jobs", { limit: 100 });
      if (alive) fill(body, jobTable(jobs.items, { showDataset: true, selected, onSelect: showSelection }));
    } catch (err) {
      if (alive) fill(body, h("p", { class: "error" }, err.detail || String(err)));
    }
  }
  refresh();
  const later = debounce(refresh, 500);
  const source = subscribe("/events", {}, (event) => {
    if (event.type.startsWith("job.") && event.type !== "job.log") later();
  }, later);
  return () => {
    alive = false;
    source.close();
  };
}

function duration(job) {
  if (!job.started_at) return "";
  const end = job.finished_at ? new Date(job.finished_at) : new Date();
  return fmtSeconds((end - new Date(job.started_at)) / 1000);
}

/** The job table; with `selected` (a Set of ids), a checkbox on each succeeded training job to compare it. */
export function jobTable(jobs, { showDataset, selected, onSelect }) {
  if (!jobs.length) return h("p", { class: "muted" }, "No jobs yet.");
  const tick = (job) => {
    if (job.kind !== "train" || job.status !== "succeeded") return h("td", {});
    const box = h("input", { type: "checkbox", checked: selected.has(job.id), "aria-label": `Compare job ${job.id.slice(0, 8)}` });
    box.addEventListener("change", () => {
      if (box.checked) selected.add(job.id);
      else selected.delete(job.id);
      if (onSelect) onSelect();
    });
    return h("td", {}, box);
  };
  return h(
    "table",
    { class: "jobs" },
    h("thead", {}, h("tr", {},
      selected ? h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Compare")) : null,
      h("th", { scope: "col" }, "Job"), showDataset ? h("th", { scope: "col" }, "Dataset") : null, h("th", { scope: "col" }, "Kind"),
      h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "num" }, "Progress"), h("th", { scope: "col" }, "Preset"),
      h("th", { scope: "col", class: "num" }, "Clips"), h("th", { scope: "col", class: "num" }, "Threshold"), h("th", { scope: "col", class: "num" }, "FRR"),
      h("th", { scope: "col", class: "num" }, "FA/h"), h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "Took"),
    )),
    h("tbody", {}, jobs.map((job) => h("tr", { "data-job": job.id },
      selected ? tick(job) : null,
      h("th", { scope: "row" }, h("a", { href: `#/jobs/${job.id}` }, job.id.slice(0, 8))),
      showDataset ? h("td", {}, h("a", { href: `#/datasets/${encodeURIComponent(job.dataset)}` }, job.dataset)) : null,
      h("td", {}, job.kind),
      h("td", {}, badge(job.status)),
      h("td", { class: "num" }, job.progress && job.progress.fraction !== undefined ? `${Math.round(job.progress.fraction * 100)}%` : ""),
      h("td", {}, job.preset || (job.config && job.config.preset) || ""),
      h("td", { class: "num" }, job.clip_count),
      h("td", { class: "num" }, fmtNum(job.metrics && job.metrics.threshold)),
      h("td", { class: "num" }, fmtNum(job.metrics && job.metrics.val_frr)),
      h("td", { class: "num" }, fmtNum(job.metrics && job.metrics.val_fa_per_hour)),
      h("td", {}, fmtDate(job.created_at)),
      h("td", {}, duration(job)),
    ))),
  );
}
