// Every job, newest first, live; and the job table the dataset page shares.

import { api, subscribe } from "../api.js";
import { h, fill, badge, debounce, fmtDate, fmtNum, fmtSeconds, tableWrap } from "../dom.js";

export function render(main) {
  const body = tableWrap(h("p", { class: "muted" }, "Loading jobs…"));
  fill(main, h("h1", {}, "Jobs"), h("section", { class: "card" }, body));
  let alive = true;
  async function refresh() {
    try {
      const jobs = await api.get("/jobs", { limit: 100 });
      if (alive) fill(body, jobTable(jobs.items, { showDataset: true }));
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

export function jobTable(jobs, { showDataset }) {
  if (!jobs.length) return h("p", { class: "muted" }, "No jobs yet.");
  return h(
    "table",
    { class: "jobs" },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Job"), showDataset ? h("th", { scope: "col" }, "Dataset") : null, h("th", { scope: "col" }, "Kind"),
      h("th", { scope: "col" }, "Status"), h("th", { scope: "col", class: "num" }, "Progress"), h("th", { scope: "col" }, "Preset"),
      h("th", { scope: "col", class: "num" }, "Clips"), h("th", { scope: "col", class: "num" }, "Threshold"), h("th", { scope: "col", class: "num" }, "FRR"),
      h("th", { scope: "col", class: "num" }, "FA/h"), h("th", { scope: "col" }, "Created"), h("th", { scope: "col" }, "Took"),
    )),
    h("tbody", {}, jobs.map((job) => h("tr", { "data-job": job.id },
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
