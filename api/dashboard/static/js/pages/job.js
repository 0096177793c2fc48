// A job's live page: progress bar, loss and metric curves per epoch, log tail, cancel, and once it has
// succeeded the artifacts and the evaluation (detection-error curve, threshold, FA/h, FRR) as charts.

import { api, authedUrl, subscribe, TERMINAL } from "../api.js";
import { h, fill, badge, notify, showError, fmtBytes, fmtDate, fmtNum, tableWrap } from "../dom.js";
import { gauge, lineChart } from "../charts.js";
import { deployCard } from "./deploy-card.js";
import { evaluationSentence, evaluationsCard } from "./evaluations.js";
import { fmtFa, fmtFrr, fmtDuration, fmtPercent, qualityLead, warningsBesideLead } from "./quality.js";
import { synthesisResult } from "./synthesis-result.js";
import { tryLiveCard } from "./try-live.js";

const LOG_TAIL = 200;
// Per-epoch figures that are not curves worth drawing (the threshold's final value is in the evaluation card).
const NOT_CURVES = new Set(["learning_rate", "clips_per_s", "eta_s", "val_threshold"]);
// One small chart per validation figure, each on its own axis with its units: on one shared 0–1 axis an FA/h of
// 12 went off the top and a loss of 0.69 read like an accuracy. `scale` turns a fraction into a percentage. Each
// chart has one line, so its title says what it is (the legend is hidden); a title over 29 characters would push
// the hidden legend below it and leave a gap.
const EPOCH_CHARTS = [
  { key: "val_frr", title: "False-reject rate", yLabel: "missed phrases (%)", scale: 100, yMin: 0, yMax: 100 },
  { key: "val_user_frr", title: "Your held-out takes missed", yLabel: "missed takes (%)", scale: 100, yMin: 0, yMax: 100 },
  // Each epoch's rate is what validation observed at that epoch's threshold, never the tail's prediction.
  { key: "val_fa_per_hour", title: "Observed false wakes per hour", yLabel: "false wakes per hour", yMin: 0 },
  { key: "val_loss", title: "Validation loss", yLabel: "cross-entropy", yMin: 0 },
  { key: "val_roc_auc", title: "ROC AUC", yLabel: "AUC (1 is perfect)", yMin: 0, yMax: 1 },
  { key: "val_accuracy", title: "Accuracy at score 0.5", yLabel: "clips right (%)", scale: 100, yMin: 0, yMax: 100 },
];
const SMALL_CHART = { width: 360, height: 210, xLabel: "epoch", xInteger: true };

const KIND_TITLES = { train: "Training", synthesize: "Synthesis", evaluate: "Evaluation" };

export function render(main, jobId) {
  const state = { job: null, progress: null, epochs: new Map(), logs: [], alive: true, finished: false, closers: [], streamStatus: null, streamCancel: false };
  const title = h("h1", {}, `Job ${jobId.slice(0, 8)}`);
  const back = h("p", {}, h("a", { href: "#/jobs" }, "← Jobs"));
  const meta = h("dl", { class: "meta" });
  const status = h("span", { class: "status" });
  const cancel = h("button", { type: "button", class: "danger", hidden: true }, "Cancel job");
  const bar = h("div", { class: "progress-fill" });
  const progressbar = h("div", { class: "progress", role: "progressbar", "aria-label": "Progress", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, bar);
  const progressText = h("p", { class: "muted progress-text" }, "Waiting for a worker…");
  const lossChart = h("div", { class: "chart-box", "data-chart": "loss" });
  const logBox = h("pre", { class: "logs", role: "log", tabindex: 0, "aria-label": "Job log" });
  const result = h("div", { class: "result" });
  const charts = h("div", { class: "epoch-charts", "data-chart": "metrics" });
  const config = h("pre", { class: "config" });

  fill(
    main,
    back,
    h("div", { class: "card-head" }, title, status),
    meta,
    h("section", { class: "card", "aria-labelledby": "progress-title" },
      h("div", { class: "card-head" }, h("h2", { id: "progress-title" }, "Progress"), cancel),
      progressbar, progressText,
      charts,
    ),
    result,
    h("section", { class: "card", "aria-labelledby": "log-title" }, h("h2", { id: "log-title" }, "Log"), logBox),
    h("details", { class: "card" }, h("summary", {}, "Configuration"), config),
  );
  drawCurves();

  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      const job = await api.post(`/jobs/${jobId}/cancel`);
      notify(state.job && state.job.kind === "synthesize" ? "Cancel requested: the job stops after the batch of clips it is making; what it stored stays" : "Cancel requested: the job stops at its next step");
      showJob(job);
    } catch (err) {
      showError(err, "Could not cancel");
      cancel.disabled = false;
    }
  });

  // GET /jobs/{id} can answer with a status the stream has already moved past (a job that started while the
  // request was on its way): the further-along status wins, so the badge never goes back to "queued".
  function furthest(job) {
    const rank = (status) => (TERMINAL.has(status) ? 2 : status === "running" ? 1 : 0);
    const status = state.streamStatus && rank(state.streamStatus) > rank(job.status) ? state.streamStatus : job.status;
    return { ...job, status, cancel_requested: job.cancel_requested || state.streamCancel };
  }

  function showJob(job) {
    state.job = job;
    back.replaceChildren(h("a", { href: `#/datasets/${encodeURIComponent(job.dataset)}` }, `← ${job.dataset}`));
    title.textContent = `${KIND_TITLES[job.kind] || job.kind} job ${job.id.slice(0, 8)}`;
    fill(status, badge(job.status), job.cancel_requested && !TERMINAL.has(job.status) ? h("span", { class: "muted" }, " stopping…") : null);
    fill(meta, ...[
      ["Dataset", h("a", { href: `#/datasets/${encodeURIComponent(job.dataset)}` }, job.dataset)],
      ...(job.kind === "train" ? [["Preset", job.preset || (job.config && job.config.preset) || "default"]] : []),
      ...(job.kind === "train" && job.config && job.config.base_job ? [["Fine-tuned from", h("a", { href: `#/jobs/${job.config.base_job}`, "data-base-job": job.config.base_job }, `job ${job.config.base_job.slice(0, 8)}`)]] : []),
      job.kind === "synthesize" ? ["Clips added", job.metrics && job.metrics.clips_added !== undefined ? job.metrics.clips_added : "–"] : ["Clips", job.clip_count],
      ["Worker", job.worker_hostname || "–"],
      ["Attempts", job.attempts],
      ["Created", fmtDate(job.created_at)],
      ["Finished", fmtDate(job.finished_at) || "–"],
    ].flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
    cancel.hidden = TERMINAL.has(job.status) || job.cancel_requested;
    // Only training has epochs worth a curve; a synthesis job reports clips made.
    charts.hidden = job.kind !== "train";
    config.textContent = JSON.stringify(job.config, null, 2);
    if (job.progress && Object.keys(job.progress).length && !state.progress) showProgress(job.progress);
    if (job.status === "succeeded") showProgress({ ...(state.progress || {}), fraction: 1 });
    else if (state.progress) showProgress(state.progress); // the time left shows only while it runs
  }

  function showProgress(p) {
    state.progress = p;
    const fraction = Math.max(0, Math.min(1, Number(p.fraction) || 0));
    const percent = Math.round(fraction * 100);
    bar.style.width = `${percent}%`;
    progressbar.setAttribute("aria-valuenow", String(percent));
    progressbar.setAttribute("aria-valuetext", `${percent}%`);
    const parts = [`${percent}%`];
    if (state.job && state.job.kind === "synthesize") {
      // Synthesis reports clips made as its steps: no epochs, no loss.
      if (p.step !== undefined) parts.push(`${p.step}${p.total_steps ? ` of ${p.total_steps}` : ""} clips`);
    } else {
      if (p.epoch !== undefined) parts.push(`epoch ${p.epoch}${p.epochs ? ` of ${p.epochs}` : ""}`);
      if (p.step !== undefined) parts.push(`step ${p.step}${p.total_steps ? ` of ${p.total_steps}` : ""}`);
      if (p.loss !== undefined) parts.push(`loss ${fmtNum(p.loss, 4)}`);
    }
    // A job that stopped, or is stopping, has no time left: the last estimate stays in the figures, not here.
    const eta = p.metrics && p.metrics.eta_s;
    const running = state.job && state.job.status === "running" && !state.job.cancel_requested;
    if (eta && fraction < 1 && running) parts.push(`about ${Math.ceil(eta)} s left`);
    progressText.textContent = parts.join(" · ");
  }

  function onProgress(p) {
    showProgress(p);
    if (p.epoch !== undefined) {
      state.epochs.set(p.epoch, { loss: p.loss, ...(p.metrics || {}) });
      drawCurves();
    }
  }

  function drawCurves() {
    const epochs = [...state.epochs.keys()].sort((a, b) => a - b);
    const keys = new Set();
    for (const e of epochs) for (const [k, v] of Object.entries(state.epochs.get(e))) if (typeof v === "number") keys.add(k);
    // A fine-tune validates only the epochs it can keep (its second half): the others have no point to draw.
    const points = (key, scale = 1) => epochs.flatMap((e) => {
      const value = state.epochs.get(e)[key];
      return typeof value === "number" ? [[e, value * scale]] : [];
    });
    // The training loss weighs near-firing negatives more than the validation loss does: not one metric, not one axis.
    fill(lossChart, lineChart({ ...SMALL_CHART, title: "Training loss", series: [{ name: "train", points: points("loss") }], yLabel: "weighted cross-entropy", yMin: 0 }));
    const known = new Set(EPOCH_CHARTS.map((c) => c.key));
    const specs = [
      ...EPOCH_CHARTS.filter((c) => keys.has(c.key)),
      ...[...keys].filter((k) => k !== "loss" && !known.has(k) && !NOT_CURVES.has(k)).sort()
        .map((k) => ({ key: k, title: k.replace(/^val_/, "").replace(/_/g, " "), yLabel: k.replace(/_/g, " ") })),
    ];
    fill(charts,
      h("h3", { class: "epoch-charts-title" }, "Per epoch"),
      h("p", { class: "muted epoch-charts-note" }, "The training loss, then what validation observed after each epoch; the evaluation below is the kept epoch's.",
        specs.length && epochs.some((e) => !("val_loss" in state.epochs.get(e))) ? " A fine-tune validates only the second half of its epochs, the ones it may keep." : null),
      h("div", { class: "grid small-charts" },
        lossChart,
        specs.map(({ key, title, yLabel, scale, yMin, yMax }) => {
          const line = points(key, scale);
          // A rate that stayed at 0 gets an axis from 0 up, not one centred on 0 with negative false wakes.
          const top = yMax ?? (yMin === 0 && line.every(([, y]) => !(y > 0)) ? 1 : undefined);
          return h("div", { class: "chart-box", "data-chart": `epoch-${key}` },
            lineChart({ ...SMALL_CHART, title, yLabel, yMin, yMax: top, series: [{ name: key.startsWith("val_") ? "val" : "train", points: line }] }));
        }),
      ),
      epochs.length && !specs.length ? h("p", { class: "muted" }, "No validation figures: too few clips to hold any out.") : null,
    );
  }

  function onLog(event) {
    const time = new Date(event.ts).toLocaleTimeString();
    state.logs.push(`${time} ${(event.payload.level || "info").padEnd(7)} ${event.payload.message || ""}`);
    if (state.logs.length > LOG_TAIL) state.logs.splice(0, state.logs.length - LOG_TAIL);
    const atBottom = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 8;
    logBox.textContent = state.logs.join("\n");
    if (atBottom) logBox.scrollTop = logBox.scrollHeight;
  }

  async function finish() {
    if (state.finished) return;
    state.finished = true;
    source.close();
    try {
      const job = await api.get(`/jobs/${jobId}`);
      if (!state.alive) return;
      showJob(job);
      const view = await resultView(job, () => state.alive, (close) => state.closers.push(close));
      if (state.alive) fill(result, view);
      else state.closers.forEach((close) => close());
    } catch (err) {
      if (state.alive) showError(err, "Could not load the result");
    }
  }

  const source = subscribe(`/jobs/${jobId}/events`, {}, (event) => {
    if (!state.alive) return;
    const type = event.type;
    if (type === "job.progress") onProgress(event.payload);
    else if (type === "job.log") onLog(event);
    else if (type === "job.retried") {
      state.epochs.clear();
      drawCurves();
      showProgress({ fraction: 0 });
      onLog({ ts: event.ts, payload: { level: "warning", message: `retrying: ${event.payload.reason || ""}` } });
    }
    // A finished job's stream replays its whole story: its final status is not undone by the replayed `started`.
    // Status events are kept even before the job's record has loaded: that record may be older than they are.
    const statusNow = type.slice(4);
    const current = state.job ? state.job.status : state.streamStatus || "queued";
    if (!TERMINAL.has(current) && (["queued", "started", "cancel_requested", "retried"].includes(statusNow) || TERMINAL.has(statusNow))) {
      const status = statusNow === "started" ? "running" : statusNow === "retried" ? "queued" : TERMINAL.has(statusNow) ? statusNow : current;
      state.streamStatus = status;
      state.streamCancel = state.streamCancel || statusNow === "cancel_requested";
      if (state.job) showJob({ ...state.job, status, cancel_requested: state.job.cancel_requested || state.streamCancel });
    }
    if (TERMINAL.has(statusNow)) finish();
  });

  api.get(`/jobs/${jobId}`).then((job) => {
    if (!state.alive) return;
    showJob(furthest(job));
    if (TERMINAL.has(job.status)) {
      // The stream replays the whole job and then ends; the result is drawn when its last event arrives.
    }
  }).catch((err) => {
    if (!state.alive) return;
    source.close();
    fill(main, h("h1", {}, "Job not found"), h("p", { class: "error", role: "alert" }, err.detail || String(err)), h("p", {}, h("a", { href: "#/jobs" }, "All jobs")));
  });

  return () => {
    state.alive = false;
    source.close();
    state.closers.forEach((close) => close());
  };
}

/** The result card(s) of a finished job; `onClose(fn)` registers what must stop when the page goes (a microphone). */
async function resultView(job, isAlive, onClose) {
  if (job.status === "failed") {
    return h("section", { class: "card failed", "aria-labelledby": "result-title" }, h("h2", { id: "result-title" }, "Failed"), h("p", { class: "error" }, job.error || "no reason was given"));
  }
  if (job.status === "cancelled") {
    return h("section", { class: "card", "aria-labelledby": "result-title" }, h("h2", { id: "result-title" }, "Cancelled"), h("p", {}, job.kind === "synthesize" ? "The job was cancelled; the clips it had stored stay in the dataset." : "The job was cancelled; nothing was exported."));
  }
  if (job.status !== "succeeded") return h("div");
  if (job.kind === "evaluate") {
    const m = job.metrics || {};
    return h("section", { class: "card", "aria-labelledby": "result-title" }, h("h2", { id: "result-title" }, "Done"),
      h("p", { class: "evaluation-sentence" }, evaluationSentence(m)),
      h("p", {}, "The model of ", h("a", { href: `#/jobs/${m.model_job}` }, `job ${String(m.model_job).slice(0, 8)}`),
        ` at its threshold ${fmtNum(m.threshold, 3)}; the curve and every clip's score are in evaluation.json.`),
      metricsTable(m));
  }
  if (job.kind === "synthesize") return synthesisResult(job);
  if (job.kind !== "train") {
    return h("section", { class: "card", "aria-labelledby": "result-title" }, h("h2", { id: "result-title" }, "Done"), metricsTable(job.metrics || {}));
  }
  let report = null;
  if (job.artifacts.some((a) => a.name === "metrics.json")) {
    try {
      report = await api.get(`/jobs/${job.id}/artifacts/metrics.json`);
    } catch (err) {
      showError(err, "Could not read metrics.json");
    }
  }
  // The threshold `wake-training detect` would read from this export's metrics.json.
  const threshold = pick(report && report.threshold, report && report.calibration && report.calibration.threshold, job.metrics && job.metrics.threshold);
  const tryLive = tryLiveCard(job, threshold);
  if (tryLive) onClose(tryLive.close);
  return h("div", {},
    evaluationView(job, report),
    tryLive && tryLive.element,
    deployCard(job, isAlive),
    evaluationsCard(job, isAlive),
    h("section", { class: "card", "aria-labelledby": "artifacts-title" },
      h("h2", { id: "artifacts-title" }, "Download"),
      deviceHint(job),
      job.artifacts.length
        ? h("ul", { class: "artifacts" }, job.artifacts.map((a) => h("li", {},
          h("a", { href: authedUrl(a.url), download: downloadName(job, a.name), class: "artifact" }, a.name),
          h("span", { class: "muted" }, ` ${fmtBytes(a.size)} · sha256 ${a.sha256.slice(0, 12)}…`),
        )))
        : h("p", { class: "muted" }, "This job exported no files."),
      job.artifacts.length ? h("p", { class: "muted saves-as" }, `Files save as ${downloadName(job, (job.artifacts.find((a) => a.name === "model.onnx") || job.artifacts[0]).name)} and so on: the models of several jobs can sit side by side.`) : null,
    ),
  );
}

/** The name a file is saved as, the one the API's download also gives: which dataset and job it came from. */
function downloadName(job, name) {
  return `${job.dataset}-${job.id.slice(0, 8)}-${name}`;
}

// Which file goes on which device, in the order people ask; a file this job did not export is left out.
const DEVICES = [
  ["model.streaming.onnx", "A Raspberry Pi, a Home Assistant box or anything that listens all day: the streaming model, each new 30 ms scored once, a third of the CPU (its loop and states are in config.json and the README)"],
  ["model.onnx", "A phone, a PC or any device with ONNX Runtime, scoring a whole window at a time"],
  ["model.int8.onnx", "A small ARM board running whole windows: the same model in 8 bits, smaller and faster, with nearly the same scores"],
  ["model.torchscript.pt", "A program that uses PyTorch: load it with torch.jit.load, nothing else needed"],
];

function deviceHint(job) {
  const files = new Map(job.artifacts.map((a) => [a.name, a]));
  const rows = DEVICES.filter(([name]) => files.has(name));
  if (!rows.length) return null;
  const link = (name) => h("a", { href: authedUrl(files.get(name).url), download: downloadName(job, name) }, name);
  return h("div", { class: "device-hint" },
    h("h3", {}, "For your device"),
    h("ul", {}, rows.map(([name, device]) => h("li", { "data-file": name }, `${device}: `, link(name)))),
    h("p", { class: "muted" }, "Each model takes raw 16 kHz mono audio and gives the chance that the wake phrase was said. ",
      files.has("metrics.json") ? "Keep metrics.json next to it: it holds the threshold to use. " : "",
      files.has("model.pt") ? "model.pt is this project's own checkpoint, not meant for a device." : ""),
  );
}

/** A figure of the metrics table, FRR and FA/h written as everywhere else on the page. */
function fmtMetric(key, value) {
  if (/(^|_)frr$/.test(key)) return fmtFrr(value);
  if (/fa_per_hour/.test(key)) return fmtFa(value);
  return fmtNum(value, 4);
}

function metricsTable(metrics) {
  const numeric = Object.entries(metrics).filter(([, v]) => typeof v === "number").sort(([a], [b]) => a.localeCompare(b));
  return tableWrap(h("table", { class: "metrics" }, h("tbody", {}, numeric.map(([k, v]) => h("tr", { "data-metric": k }, h("th", { scope: "row" }, k.replace(/_/g, " ")), h("td", { class: "num" }, fmtMetric(k, v)))))));
}

function pick(...values) {
  return values.find((v) => typeof v === "number" && Number.isFinite(v));
}

function evaluationView(job, report) {
  const m = job.metrics || {};
  const cal = (report && report.calibration) || {};
  const coverage = (m.validation_coverage && typeof m.validation_coverage === "object") ? m.validation_coverage : (report && report.validation_coverage) || null;
  const predicted = Boolean(coverage && coverage.fa_per_hour_source === "tail prediction");
  const threshold = pick(m.threshold, cal.threshold, report && report.threshold);
  // The figure the warnings speak of: the tail's prediction where validation could not observe the rate.
  const fa = pick(coverage && coverage.fa_per_hour, m.val_fa_per_hour, m.fa_per_hour, cal.fa_per_hour);
  const observedFa = pick(m.val_fa_per_hour, m.fa_per_hour, cal.fa_per_hour);
  const frr = pick(m.val_frr, m.frr, cal.frr);
  const target = pick(job.config && job.config.target_fa_per_hour, cal.target_fa_per_hour);
  const curve = ((report && (report.curve || report.det_curve)) || []).filter((p) => p && typeof p === "object");
  const section = h("section", { class: "card", "aria-labelledby": "eval-title" }, h("h2", { id: "eval-title" }, "Evaluation"));
  const lead = qualityLead({ frr, fa, coverage: coverage || {}, target, observedFa, userFrr: pick(m.val_user_frr), userTakes: pick(m.val_user_clips) });
  if (lead) {
    section.append(h("div", { class: "quality-lead", role: "status" },
      h("p", { class: "quality-sentence" }, lead.sentence),
      lead.note ? h("p", { class: "quality-note" }, lead.note) : null));
  }
  if (threshold === undefined && fa === undefined && frr === undefined && !curve.length) {
    section.append(h("p", { class: "muted" }, "This job reported no evaluation (no validation audio of both kinds)."));
  }
  const faTitle = predicted ? "False accepts per hour (predicted)" : "False accepts per hour";
  const stats = h("dl", { class: "stats" },
    [["Threshold", threshold, "threshold", (v) => fmtNum(v, 3)], [faTitle, fa, "fa", fmtFa], ["False-reject rate", frr, "frr", fmtFrr], ["Your held-out takes it misses", pick(m.val_user_frr), "user-frr", fmtFrr], ["Near misses that wake it", pick(m.val_near_miss_accept_rate), "near-miss", fmtPercent], ["Validation accuracy", pick(m.val_accuracy), "acc", fmtPercent], ["ROC AUC", pick(m.val_roc_auc), "auc", (v) => fmtNum(v, 3)]]
      .filter(([, v]) => v !== undefined)
      .map(([k, v, key, format]) => h("div", { class: "stat", "data-stat": key }, h("dt", {}, k), h("dd", {}, format(v)))),
  );
  section.append(stats);
  const warnings = warningsBesideLead(m.warnings, lead);
  if (warnings.length) section.append(h("ul", { class: "warnings", role: "note" }, warnings.map((w) => h("li", {}, w))));
  if (coverage) {
    // Where the lead says what the negative audio could show, it is not said again here.
    section.append(h("p", { class: "muted coverage" },
      `Validation heard ${coverage.positive_clips} phrases (${coverage.user_positive_clips} of your own)` +
      (lead && lead.saysAudio ? "." : ` and ${fmtDuration(coverage.negative_audio_s)} of negative audio, where one false wake already counts as ` +
        `${fmtFa(coverage.fa_per_hour_resolution)} per hour.`)));
  }
  const charts = h("div", { class: "grid charts" });
  if (curve.length) {
    const points = curve.map((p) => [Number(p.fa_per_hour), Number(p.frr)]).sort((a, b) => a[0] - b[0] || b[1] - a[1]);
    charts.append(h("div", { class: "chart-box", "data-chart": "det" }, lineChart({
      title: "Detection-error curve",
      series: [{ name: "FRR at each threshold", points }],
      xLabel: "false accepts per hour (log)",
      yLabel: "false-reject rate",
      xLog: true,
      yMin: 0,
      yMax: 1,
      // The curve is what validation observed, so the threshold sits at the observed rate, not the predicted one.
      markers: observedFa !== undefined && frr !== undefined ? [{ x: observedFa, y: frr, label: `threshold ${fmtNum(threshold, 3)}` }] : [],
    })));
    const byThreshold = curve.filter((p) => Number.isFinite(p.threshold)).sort((a, b) => a.threshold - b.threshold);
    charts.append(h("div", { class: "chart-box", "data-chart": "threshold" }, lineChart({
      title: "False-reject rate by threshold",
      series: [{ name: "FRR", points: byThreshold.map((p) => [p.threshold, p.frr]) }],
      xLabel: "threshold",
      yLabel: "false-reject rate",
      yMin: 0,
      yMax: 1,
      markers: threshold !== undefined && frr !== undefined ? [{ x: threshold, y: frr, label: "chosen" }] : [],
    })));
  }
  const gauges = h("div", { class: "gauges" });
  if (frr !== undefined) gauges.append(gauge({ title: "False-reject rate", value: frr, max: 1, format: fmtFrr }));
  if (fa !== undefined) gauges.append(gauge({ title: faTitle, value: fa, max: Math.max(fa, (target || 1) * 2), target, format: fmtFa }));
  if (gauges.childNodes.length) charts.append(gauges);
  if (charts.childNodes.length) section.append(charts);
  if (Object.keys(m).length) section.append(h("details", {}, h("summary", {}, "All metrics"), metricsTable(m)));
  if (report && report.split && report.split.message) section.append(h("p", { class: "muted" }, report.split.message));
  return section;
}
