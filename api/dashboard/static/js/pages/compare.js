// Jobs side by side (#/compare?jobs=<id>,<id> or #/datasets/<name>/compare): their figures, the settings that
// differ, their evaluations on test sets and their detection-error curves in one chart.

import { api } from "../api.js";
import { h, fill, badge, fmtDate, fmtNum, fmtSeconds, tableWrap } from "../dom.js";
import { fmtFa, fmtFrr, fmtPercent } from "./quality.js";
import { lineChart } from "../charts.js";

// A dataset's compare page opens with its newest succeeded training jobs, this many.
const DEFAULT_JOBS = 4;
// The most jobs one page compares: more columns than this are unreadable, and each costs requests.
const MAX_JOBS = 8;
const DASHES = [null, "8 5", "3 4", "12 4 3 4"];

/** `#/compare?jobs=<id>,<id>`: the jobs named in the address, in that order. */
export function render(main, query) {
  const ids = (new URLSearchParams(query).get("jobs") || "").split(",").map((id) => id.trim()).filter(Boolean);
  return show(main, { ids: [...new Set(ids)].slice(0, MAX_JOBS) });
}

/** `#/datasets/<name>/compare`: the dataset's newest succeeded training jobs. */
export function renderDataset(main, dataset) {
  return show(main, { dataset });
}

function show(main, { ids, dataset }) {
  const state = { alive: true };
  fill(main, h("p", {}, h("a", { href: dataset ? datasetHref(dataset) : "#/jobs" }, dataset ? `← ${dataset}` : "← Jobs")),
    h("h1", {}, "Compare jobs"), h("p", { class: "muted" }, "Loading…"));
  load(main, { ids, dataset }, () => state.alive).catch((err) => {
    if (state.alive) fill(main, h("h1", {}, "Compare jobs"), h("p", { class: "error", role: "alert" }, err.detail || String(err)));
  });
  return () => {
    state.alive = false;
  };
}

function datasetHref(name) {
  return `#/datasets/${encodeURIComponent(name)}`;
}

function compareHref(jobs) {
  return `#/compare?jobs=${jobs.map((j) => j.id).join(",")}`;
}

/** The dataset's succeeded training jobs, newest first. */
async function trainedJobs(dataset) {
  const page = await api.get("/jobs", { dataset, status: "succeeded", limit: 100 });
  return page.items.filter((job) => job.kind === "train");
}

async function load(main, { ids, dataset }, isAlive) {
  let jobs;
  const missing = [];
  if (dataset) {
    jobs = (await trainedJobs(dataset)).slice(0, DEFAULT_JOBS);
  } else {
    const results = await Promise.allSettled(ids.map((id) => api.get(`/jobs/${encodeURIComponent(id)}`)));
    jobs = [];
    results.forEach((r, i) => (r.status === "fulfilled" ? jobs.push(r.value) : missing.push(`${ids[i]}: ${r.reason.detail || r.reason}`)));
  }
  const datasets = [...new Set(jobs.map((job) => job.dataset))];
  const home = dataset || (datasets.length === 1 ? datasets[0] : null);
  const [reports, evaluations, choices] = await Promise.all([
    Promise.all(jobs.map(metricsReport)),
    Promise.all(jobs.map(jobEvaluations)),
    home ? trainedJobs(home).catch(() => []) : Promise.resolve([]),
  ]);
  if (!isAlive()) return;

  fill(main,
    h("p", {}, h("a", { href: home ? datasetHref(home) : "#/jobs" }, home ? `← ${home}` : "← Jobs")),
    h("h1", {}, "Compare jobs"),
    h("p", { class: "muted" }, home ? `Training jobs of ${home}, side by side.` : "Training jobs side by side."),
    missing.length ? h("p", { class: "error", role: "alert" }, `Not found: ${missing.join("; ")}`) : null,
    choices.length ? chooser(choices, jobs) : null,
    jobs.length
      ? [figuresCard(jobs, datasets.length > 1), evaluationsCard(jobs, evaluations), curveCard(jobs, reports)]
      : h("section", { class: "card" }, h("p", { class: "muted" }, dataset
        ? `${dataset} has no succeeded training jobs yet: train it, then compare the models here.`
        : "No jobs to compare: pick them on the Jobs page, or open a dataset's compare page.")),
  );
}

async function metricsReport(job) {
  if (!job.artifacts.some((a) => a.name === "metrics.json")) return null;
  try {
    return await api.get(`/jobs/${job.id}/artifacts/metrics.json`);
  } catch {
    return null; // the table still compares the job; its curve is missing from the chart, which says so
  }
}

async function jobEvaluations(job) {
  if (job.kind !== "train") return [];
  try {
    return (await api.get(`/jobs/${job.id}/evaluations`, { limit: 100 })).items.filter((e) => e.status === "succeeded");
  } catch {
    return [];
  }
}

function shortName(job) {
  return `${job.id.slice(0, 8)} ${preset(job)}`;
}

function preset(job) {
  return job.preset || (job.config && job.config.preset) || "default";
}

function num(value) {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function took(job) {
  if (!job.started_at || !job.finished_at) return "–";
  return fmtSeconds((new Date(job.finished_at) - new Date(job.started_at)) / 1000);
}

/** Which jobs to compare: the dataset's succeeded training jobs as checkboxes. */
function chooser(choices, current) {
  const ids = new Set(current.map((job) => job.id));
  const boxes = choices.slice(0, 50).map((job) => h("label", { class: "choice" },
    h("input", { type: "checkbox", value: job.id, checked: ids.has(job.id) }),
    shortName(job), " ", h("span", { class: "muted" }, fmtDate(job.created_at))));
  const go = h("button", { type: "submit" }, "Compare these");
  const form = h("form", { class: "choices" }, h("div", { class: "choice-list" }, boxes), go);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const picked = boxes.map((label) => label.querySelector("input")).filter((box) => box.checked).map((box) => ({ id: box.value }));
    if (picked.length) location.hash = compareHref(picked.slice(0, MAX_JOBS));
  });
  return h("details", { class: "card", open: current.length < 2 },
    h("summary", {}, `Choose the jobs (${current.length} of ${choices.length} succeeded training jobs shown)`), form);
}

/** A row of the figures table: a header and one cell per job; `best` marks the lowest value (lower is better). */
function figureRow(label, key, jobs, cell, { lowest } = {}) {
  const values = lowest ? jobs.map(lowest) : [];
  const defined = values.filter((v) => v !== undefined);
  const best = defined.length > 1 && new Set(defined).size > 1 ? Math.min(...defined) : undefined;
  return h("tr", { "data-row": key },
    h("th", { scope: "row" }, label),
    jobs.map((job, i) => h("td", { class: best !== undefined && values[i] === best ? "best" : null },
      cell(job), best !== undefined && values[i] === best ? h("span", { class: "sr-only" }, " (lowest)") : null)));
}

/** A setting's name that a narrow column may break after its underscores (and nowhere else). */
function breakable(key) {
  return key.split("_").flatMap((part, i) => (i ? ["_", h("wbr"), part] : [part]));
}

function shown(value) {
  if (value === undefined) return "–";
  return typeof value === "string" ? value : JSON.stringify(value);
}

function figuresCard(jobs, manyDatasets) {
  const m = (job) => job.metrics || {};
  const faSource = (job) => {
    const source = m(job).validation_coverage && m(job).validation_coverage.fa_per_hour_source;
    return source === "tail prediction" ? "predicted" : source || "";
  };
  const rows = [
    manyDatasets ? figureRow("Dataset", "dataset", jobs, (job) => h("a", { href: datasetHref(job.dataset) }, job.dataset)) : null,
    figureRow("Created", "created", jobs, (job) => fmtDate(job.created_at)),
    figureRow("Status", "status", jobs, (job) => badge(job.status)),
    figureRow("Preset", "preset", jobs, preset),
    figureRow("Threshold", "threshold", jobs, (job) => fmtNum(m(job).threshold, 3)),
    figureRow("Validation FRR", "frr", jobs, (job) => fmtFrr(m(job).val_frr), { lowest: (job) => num(m(job).val_frr) }),
    figureRow("False accepts per hour", "fa", jobs, (job) => num(m(job).val_fa_per_hour) === undefined ? "–"
      : [fmtFa(m(job).val_fa_per_hour), faSource(job) ? h("span", { class: "muted" }, ` ${faSource(job)}`) : null],
    { lowest: (job) => num(m(job).val_fa_per_hour) }),
    figureRow("Near misses that wake it", "near-miss", jobs, (job) => fmtPercent(m(job).val_near_miss_accept_rate),
      { lowest: (job) => num(m(job).val_near_miss_accept_rate) }),
    figureRow("Training time", "took", jobs, took),
  ];
  // The settings: the ones that differ are what the comparison is about; the rest fold away.
  const keys = [...new Set(jobs.flatMap((job) => Object.keys(job.config || {})))].filter((k) => k !== "preset").sort();
  const value = (job, key) => shown((job.config || {})[key]);
  const differ = keys.filter((k) => new Set(jobs.map((job) => value(job, k))).size > 1);
  const same = keys.filter((k) => !differ.includes(k));
  const table = h("table", { class: "compare" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Job"), jobs.map((job) => h("th", { scope: "col", "data-job": job.id },
      h("a", { href: `#/jobs/${job.id}` }, job.id.slice(0, 8)))))),
    h("tbody", {}, rows),
    h("tbody", { class: "settings" },
      h("tr", {}, h("th", { scope: "colgroup", colspan: jobs.length + 1, class: "group" },
        differ.length ? `Settings that differ (${differ.length})` : "Every setting is the same")),
      differ.map((k) => h("tr", { class: "differs", "data-key": k },
        h("th", { scope: "row" }, breakable(k), h("span", { class: "sr-only" }, " (differs)")),
        jobs.map((job) => h("td", {}, value(job, k)))))),
  );
  return h("section", { class: "card", "aria-labelledby": "compare-title" },
    h("h2", { id: "compare-title" }, "Side by side"),
    tableWrap(table),
    same.length ? h("details", { class: "same-settings" },
      h("summary", {}, `${same.length} settings the same in every job`),
      tableWrap(h("table", { class: "metrics" }, h("tbody", {}, same.map((k) => h("tr", { "data-key": k },
        h("th", { scope: "row" }, k), h("td", {}, value(jobs[0], k)))))))) : null,
  );
}

/** The jobs' succeeded evaluations: a row per test dataset, the newest evaluation of each job on it. */
function evaluationsCard(jobs, evaluations) {
  if (!evaluations.some((list) => list.length)) return null;
  const datasets = [...new Set(evaluations.flat().map((e) => e.dataset))].sort();
  const cell = (list, dataset) => {
    const e = list.find((x) => x.dataset === dataset);
    if (!e) return h("td", {}, "–");
    const m = e.metrics || {};
    return h("td", { "data-evaluation": e.id }, h("a", { href: `#/jobs/${e.id}` }, `missed ${fmtFrr(m.frr)}`), ` · ${fmtFa(m.fa_per_hour)} FA/h`);
  };
  return h("section", { class: "card", "aria-labelledby": "compare-evaluations-title" },
    h("h2", { id: "compare-evaluations-title" }, "On test sets"),
    h("p", { class: "muted" }, "Each model's newest evaluation on each test dataset: the share of phrases it missed and its false accepts per hour."),
    tableWrap(h("table", { class: "compare-evaluations" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Test dataset"), jobs.map((job) => h("th", { scope: "col" }, shortName(job))))),
      h("tbody", {}, datasets.map((d) => h("tr", {}, h("th", { scope: "row" }, d), evaluations.map((list) => cell(list, d))))))),
  );
}

/** Every job's detection-error curve (FRR against false accepts per hour) in one chart. */
function curveCard(jobs, reports) {
  const series = [];
  const without = [];
  jobs.forEach((job, i) => {
    const curve = ((reports[i] && (reports[i].curve || reports[i].det_curve)) || []).filter((p) => p && typeof p === "object");
    if (!curve.length) {
      without.push(job.id.slice(0, 8));
      return;
    }
    const points = curve.map((p) => [Number(p.fa_per_hour), Number(p.frr)]).sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    // Curves that coincide (an easy dataset) would hide each other: each after the first is dashed, differently.
    series.push({ name: shortName(job), points, dash: DASHES[series.length % DASHES.length] });
  });
  return h("section", { class: "card", "aria-labelledby": "compare-curve-title" },
    h("h2", { id: "compare-curve-title" }, "Detection-error curves"),
    h("p", { class: "muted" }, "Lower and further left is better: fewer missed phrases at fewer false accepts per hour."),
    h("div", { class: "chart-box compare-chart", "data-chart": "compare-det" }, lineChart({
      title: "FRR against false accepts per hour",
      series,
      xLabel: "false accepts per hour (log)",
      yLabel: "false-reject rate",
      xLog: true,
      yMin: 0,
      yMax: 1,
    })),
    without.length ? h("p", { class: "muted" }, `No curve for ${without.join(", ")} (no metrics.json with a curve).`) : null,
  );
}
