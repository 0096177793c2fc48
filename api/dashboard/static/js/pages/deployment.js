// A deployment's page: the model it serves, promote another job, roll back, its history, its devices, the clips
// its devices sent for review and a retraining that starts from the served model.

import { api, subscribe } from "../api.js";
import { h, fill, field, select, debounce, notify, showError, fmtDate, fmtNum, tableWrap } from "../dom.js";
import { devicesCard } from "./devices.js";
import { fmtFrr } from "./quality.js";

const ACTIONS = { created: "created", promoted: "promoted", rolled_back: "rolled back", updated: "updated" };

export function render(main, name) {
  const path = `/deployments/${encodeURIComponent(name)}`;
  const state = { deployment: null, dataset: null, alive: true, jobsFor: null };
  const title = h("h1", {}, name);
  const version = h("span", { class: "badge version" });
  const about = h("p", { class: "muted" });
  const current = h("dl", { class: "meta current" });
  const review = h("div", { class: "review-line" });
  const retrain = h("button", { type: "button" }, "Retrain with reviewed clips");
  const promote = promoteForm(path, () => refresh());
  const rollback = h("button", { type: "button", class: "small", disabled: true }, "Roll back");
  const history = tableWrap(h("p", { class: "muted" }, "Loading…"));
  const devices = devicesCard(name);

  fill(main,
    h("p", {}, h("a", { href: "#/deployments" }, "← Deployments")),
    h("div", { class: "card-head" }, title, version),
    about,
    h("section", { class: "card", "aria-labelledby": "current-title" },
      h("h2", { id: "current-title" }, "Serving now"),
      current,
      review,
      h("div", { class: "row tight start-row" }, retrain,
        h("span", { class: "muted" }, "A new training of the dataset that starts from the model served now.")),
    ),
    promote.card,
    h("section", { class: "card", "aria-labelledby": "deploy-history-title" },
      h("div", { class: "card-head" }, h("h2", { id: "deploy-history-title" }, "History"), rollback),
      history),
    devices.card,
  );

  rollback.addEventListener("click", async () => {
    rollback.disabled = true;
    try {
      const d = await api.post(`${path}/rollback`);
      notify(`Rolled back: ${d.name} now serves job ${d.job_id.slice(0, 8)} as v${d.version}`);
      refresh();
    } catch (err) {
      showError(err, "Could not roll back");
      rollback.disabled = false;
    }
  });

  retrain.addEventListener("click", async () => {
    const d = state.deployment;
    if (!d) return;
    retrain.disabled = true;
    try {
      const job = await api.post("/train", { dataset: d.dataset, config_overrides: { base_job: d.job_id } });
      notify(`Retraining ${d.dataset} from job ${d.job_id.slice(0, 8)}`);
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      showError(err, "Retraining refused");
      retrain.disabled = false;
    }
  });

  async function refresh({ poll = false } = {}) {
    let d;
    try {
      d = await api.get(path);
    } catch (err) {
      if (!state.alive) return;
      fill(main, h("h1", {}, "Deployment not found"), h("p", { class: "error", role: "alert" }, err.detail || String(err)),
        h("p", {}, h("a", { href: "#/deployments" }, "All deployments")));
      state.alive = false;
      return;
    }
    if (!state.alive) return;
    state.deployment = d;
    version.textContent = `v${d.version}`;
    about.replaceChildren(
      "Dataset ", h("a", { href: `#/datasets/${encodeURIComponent(d.dataset)}` }, d.dataset),
      d.phrase ? ` · wake phrase “${d.phrase}”` : "",
      d.description ? ` · ${d.description}` : "",
    );
    showCurrent(d);
    showHistory(d);
    const list = d.devices || (await api.get("/devices", { deployment: d.name }));
    if (!state.alive) return;
    devices.show(d, list, { poll });
    refreshDataset();
    if (state.jobsFor !== `${d.dataset} ${d.version}`) {
      state.jobsFor = `${d.dataset} ${d.version}`;
      promote.setDeployment(d);
    }
  }

  function showCurrent(d) {
    const short = d.model_sha256 ? d.model_sha256.slice(0, 12) : "–";
    fill(current, ...[
      ["Job", h("a", { href: `#/jobs/${d.job_id}` }, d.job_id.slice(0, 8))],
      ["Version", `v${d.version}`],
      ["Model", h("code", { title: d.model_sha256 || "", "data-field": "sha256" }, short), h("span", { class: "muted" }, ` ${d.precision}`)],
      ["Threshold", h("span", { "data-field": "threshold" }, fmtNum(d.threshold, 3)),
        h("span", { class: "muted" }, d.threshold_override === null || d.threshold_override === undefined ? " the job's calibrated one" : " set here")],
      ["Changed", fmtDate(d.updated_at)],
      // The served model is the job's: its page runs it in the browser, with the slider to set this threshold.
      ["Try it", h("a", { href: `#/jobs/${d.job_id}`, "data-field": "try-live" }, "Test in the browser"),
        h("span", { class: "muted" }, ` on the job's page; set its threshold slider to ${fmtNum(d.threshold, 3)}`)],
    ].flatMap(([k, ...v]) => [h("dt", {}, k), h("dd", {}, ...v)]));
  }

  function showHistory(d) {
    const entries = d.history || [];
    const earlier = entries.filter((e) => e.version < d.version);
    const target = earlier[0];
    rollback.disabled = !target;
    rollback.textContent = target ? `Roll back to v${target.version}` : "Roll back";
    rollback.title = target ? `Serve job ${target.job_id.slice(0, 8)} again` : "There is no earlier version to go back to";
    if (!entries.length) {
      fill(history, h("p", { class: "muted" }, "No changes recorded."));
      return;
    }
    fill(history, h("table", { class: "deployment-history" },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col", class: "num" }, "Version"), h("th", { scope: "col" }, "Change"), h("th", { scope: "col" }, "Job"),
        h("th", { scope: "col" }, "Precision"), h("th", { scope: "col", class: "num" }, "Threshold"), h("th", { scope: "col" }, "By"),
        h("th", { scope: "col" }, "When"),
      )),
      h("tbody", {}, entries.map((e) => h("tr", { "data-version": e.version, class: e.version === d.version ? "current" : null },
        h("td", { class: "num" }, `v${e.version}`, e.version === d.version ? h("span", { class: "muted" }, " (now)") : null),
        h("td", { "data-col": "action" }, ACTIONS[e.action] || e.action),
        h("td", {}, h("a", { href: `#/jobs/${e.job_id}` }, e.job_id.slice(0, 8))),
        h("td", {}, e.precision),
        h("td", { class: "num" }, e.threshold === null || e.threshold === undefined ? "job's" : fmtNum(e.threshold, 3)),
        h("td", {}, e.actor || ""),
        h("td", { title: e.created_at }, fmtDate(e.created_at)),
      ))),
    ));
  }

  async function refreshDataset() {
    const d = state.deployment;
    try {
      const dataset = await api.get(`/datasets/${encodeURIComponent(d.dataset)}`);
      if (!state.alive) return;
      state.dataset = dataset;
      const waiting = dataset.unreviewed_clips || 0;
      const queue = `#/datasets/${encodeURIComponent(d.dataset)}/review?deployment=${encodeURIComponent(d.name)}`;
      fill(review, waiting
        ? h("p", { class: "warn" }, h("a", { href: queue, class: "review-count" }, `${waiting} clip${waiting === 1 ? "" : "s"} to review`),
          ": detections the devices sent. Say which were really the wake phrase, then retrain.")
        : h("p", { class: "muted" }, "No clips waiting for review. ", h("a", { href: queue }, "Review queue")));
    } catch (err) {
      if (state.alive) fill(review, h("p", { class: "error" }, err.detail || String(err)));
    }
  }

  refresh();
  const later = debounce(refresh, 300);
  const laterDataset = debounce(() => state.deployment && refreshDataset(), 300);
  const source = subscribe("/events", {}, (event) => {
    if (event.type === "deployment.updated" && (!event.payload || event.payload.deployment === name)) later();
    else if (event.type.startsWith("dataset.clip") && state.deployment && event.dataset === state.deployment.dataset) laterDataset();
  }, later);
  // Devices report without events: last seen, versions and counters follow a slow poll.
  const timer = setInterval(() => { if (state.deployment) refresh({ poll: true }); }, 10_000);
  return () => {
    state.alive = false;
    clearInterval(timer);
    source.close();
  };
}

/** Promote: another succeeded training job of the deployment's dataset, at a precision and optional threshold. */
function promoteForm(path, done) {
  const job = select("job_id", [["", "Loading jobs…"]], "", { class: "promote-job" });
  const precision = select("precision", [["fp32", "fp32 (model.onnx)"], ["int8", "int8 (model.int8.onnx, smaller)"]], "fp32");
  const threshold = h("input", { name: "threshold", type: "number", min: 0.01, max: 0.99, step: 0.01, placeholder: "the job's" });
  const submit = h("button", { type: "submit", class: "primary" }, "Promote");
  const note = h("p", { class: "muted" });
  const card = h("form", { class: "card", "aria-labelledby": "promote-title" },
    h("h2", { id: "promote-title" }, "Promote another job"),
    note,
    h("div", { class: "row" }, field("Job", job), field("Precision", precision), field("Threshold", threshold, "blank: the job's calibrated one")),
    submit,
  );
  card.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!job.value) return;
    const body = { job_id: job.value, precision: precision.value };
    if (threshold.value !== "") body.threshold = Number(threshold.value);
    submit.disabled = true;
    try {
      const d = await api.put(path, body);
      notify(`Promoted job ${d.job_id.slice(0, 8)}: ${d.name} is now v${d.version}`);
      threshold.value = "";
      done();
    } catch (err) {
      showError(err, "Could not promote");
    } finally {
      submit.disabled = false;
    }
  });
  return {
    card,
    async setDeployment(d) {
      precision.value = d.precision;
      try {
        const page = await api.get("/jobs", { dataset: d.dataset, status: "succeeded", limit: 100 });
        const others = page.items.filter((j) => j.kind === "train" && j.id !== d.job_id);
        note.textContent = others.length
          ? `Devices following ${d.name} switch to the chosen job's model at their next poll; the history keeps the way back.`
          : `No other succeeded training job of ${d.dataset} yet: train one from the dataset's page.`;
        fill(job, others.length ? others.map((j) => h("option", { value: j.id }, jobLabel(j))) : h("option", { value: "" }, "none"));
        submit.disabled = !others.length;
      } catch (err) {
        fill(job, h("option", { value: "" }, "none"));
        note.textContent = `The jobs could not be loaded: ${err.detail || err}`;
      }
    },
  };
}

function jobLabel(job) {
  const m = job.metrics || {};
  const parts = [job.id.slice(0, 8), job.preset || (job.config && job.config.preset) || ""];
  if (typeof m.val_frr === "number") parts.push(`misses ${fmtFrr(m.val_frr)}`);
  parts.push(fmtDate(job.finished_at || job.created_at));
  return parts.filter(Boolean).join(" · ");
}
