// A model's evaluations on the job page: play it a dataset it never trained on (your own test recordings) and read
// how often it missed you and how often it woke by itself. The worker does the scoring (POST /jobs/{id}/evaluate).
import { api } from "../api.js";
import { h, fill, badge, field, select, showError, fmtNum, tableWrap } from "../dom.js";
import { fmtFa, fmtFrr } from "./quality.js";

const POLL_MS = 1500;

function perSpeaker(figures) {
  const rows = Object.entries(figures.per_speaker || {});
  if (!rows.length) return "";
  return rows.map(([speaker, s]) => `${speaker} ${fmtFrr(s.recall)} of ${s.clips}`).join(", ");
}

/** One sentence a user can act on: how many phrases it missed, how often it woke by itself, and how sure that is. */
export function evaluationSentence(figures) {
  const missed = figures.positives - figures.detected;
  const minutes = figures.negative_s / 60;
  return `Missed ${missed} of ${figures.positives} phrases (${fmtFrr(figures.frr)}); woke ${figures.false_accepts} times ` +
    `by itself in ${fmtNum(minutes, 3)} min of negatives: ${fmtFa(figures.fa_per_hour)} per hour ` +
    `(one false wake in that much audio already counts as ${fmtFa(figures.fa_per_hour_resolution)} per hour).`;
}

function row(evaluation) {
  const m = evaluation.metrics || {};
  const done = evaluation.status === "succeeded";
  return h("tr", { "data-evaluation": evaluation.id },
    h("td", {}, h("a", { href: `#/jobs/${evaluation.id}` }, evaluation.dataset)),
    h("td", {}, badge(evaluation.status)),
    h("td", { class: "num" }, done ? fmtFrr(m.frr) : "–"),
    h("td", { class: "num" }, done ? fmtFa(m.fa_per_hour) : "–"),
    h("td", { class: "num" }, done ? fmtNum(m.negative_s / 60, 3) : "–"),
    h("td", {}, done ? perSpeaker(m) : evaluation.error || ""),
  );
}

/** The "Evaluate on a test set" card of a succeeded train job. */
export function evaluationsCard(job, isAlive) {
  const list = h("div", { class: "evaluations" });
  const datasetSelect = select("dataset", [], "");
  const button = h("button", { type: "submit" }, "Evaluate");
  const form = h("form", { class: "inline-form" }, field("Test dataset", datasetSelect), button);
  let timer = null;

  async function refresh() {
    clearTimeout(timer);
    if (!isAlive()) return;
    try {
      const page = await api.get(`/jobs/${job.id}/evaluations`);
      if (!page.items.length) {
        fill(list, h("p", { class: "muted" }, "No evaluations yet."));
      } else {
        const latest = page.items.find((e) => e.status === "succeeded");
        fill(list,
          latest ? h("p", { class: "evaluation-sentence" }, `On ${latest.dataset}: `, evaluationSentence(latest.metrics)) : null,
          tableWrap(h("table", {},
            h("thead", {}, h("tr", {}, ["Dataset", "Status", "Missed", "False wakes / h", "Minutes of negatives", "Heard, by speaker"].map((t) => h("th", { scope: "col" }, t)))),
            h("tbody", {}, page.items.map(row)))));
      }
      if (page.items.some((e) => e.status === "queued" || e.status === "running")) timer = setTimeout(refresh, POLL_MS);
    } catch (err) {
      showError(err, "Could not load the evaluations");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    try {
      await api.post(`/jobs/${job.id}/evaluate`, { dataset: datasetSelect.value });
      await refresh();
    } catch (err) {
      showError(err, "Could not start the evaluation");
    } finally {
      button.disabled = false;
    }
  });

  api.get("/datasets").then((datasets) => {
    fill(datasetSelect, ...datasets.map((d) => h("option", { value: d.name }, d.name)));
    // Another dataset than the one it trained on, when there is one: that is what a test set is.
    const other = datasets.find((d) => d.name !== job.dataset);
    datasetSelect.value = other ? other.name : job.dataset;
  }).catch((err) => showError(err, "Could not list the datasets"));
  refresh();

  return h("section", { class: "card", "aria-labelledby": "evaluate-title" },
    h("h2", { id: "evaluate-title" }, "Evaluate on a test set"),
    h("p", { class: "muted" }, "Validation hears the same synthesizers as training. To know how the model does with your voice in your room, " +
      "make a dataset it never trained on (a few takes of the phrase by each person, as positives with their name as speaker, and " +
      "a long recording of the room as negative) and play it to the model, as a device would."),
    form,
    list,
  );
}
