// A dataset's QA from GET /datasets/{name}/quality: the "Needs attention" card (flagged clips, each relabelled or
// deleted in one click) and the "Clip quality" card (duration and level histograms, figures per speaker and source).

import { api, authedUrl } from "../api.js";
import { h, fill, notify, showError, fmtNum, tableWrap } from "../dom.js";
import { histogram } from "../charts.js";

/** What each flag means, in the words the page uses for it (the clips table's flag filter shows them too). */
export const FLAG_WORDS = {
  silent: "silent",
  clipped: "clipped (distorted)",
  too_quiet: "too quiet",
  cut_at_edge: "cut at the start or end",
  mostly_silence: "mostly silence",
  near_duplicate: "near duplicate",
};

const LABELS = ["positive", "negative", "noise"];
// A long list would push the upload and record cards far down: the first few show, the rest on request.
const SHOWN = 8;

/** The two cards and their `refresh()` (call it when the dataset's clips change). */
export function qualityCards(name) {
  const path = `/datasets/${encodeURIComponent(name)}`;
  const attentionBody = h("div", {}, h("p", { class: "muted" }, "Checking clips…"));
  const attention = h("section", { class: "card quality-card", "aria-labelledby": "attention-title" }, h("h2", { id: "attention-title" }, "Needs attention"), attentionBody);
  const statsBody = h("div", {}, h("p", { class: "muted" }, "Measuring clips…"));
  const stats = h("section", { class: "card quality-stats", "aria-labelledby": "clip-quality-title" }, h("h2", { id: "clip-quality-title" }, "Clip quality"), statsBody);
  const state = { seq: 0, showAll: false, quality: null };

  async function refresh() {
    const mine = ++state.seq;
    try {
      const quality = await api.get(`${path}/quality`);
      if (mine !== state.seq) return;
      // Every change to the dataset asks again; an unchanged answer leaves the players and buttons as they are.
      const same = JSON.stringify(quality) === JSON.stringify(state.quality);
      state.quality = quality;
      if (!same) draw();
    } catch (err) {
      if (mine !== state.seq) return;
      state.quality = null;
      const error = () => h("p", { class: "error", role: "alert" }, err.detail || String(err));
      fill(attentionBody, error());
      fill(statsBody, error());
    }
  }

  function draw() {
    const quality = state.quality;
    fill(attentionBody, attentionView(quality));
    fill(statsBody, statsView(quality));
  }

  function attentionView(quality) {
    const unmeasured = quality.unmeasured ? h("p", { class: "warn" }, `${quality.unmeasured} clip${quality.unmeasured === 1 ? "" : "s"} could not be checked: the file is missing or damaged on the data volume.`) : null;
    if (!quality.flagged.length) {
      return [h("p", { class: "muted" }, quality.clips ? `All ${quality.clips} clips look fine.` : "Nothing to check yet."), unmeasured];
    }
    const shown = state.showAll ? quality.flagged : quality.flagged.slice(0, SHOWN);
    const more = quality.flagged.length - shown.length;
    const toggle = more > 0 ? h("button", { type: "button", class: "small show-all" }, `Show all ${quality.flagged.length}`) : null;
    toggle?.addEventListener("click", () => { state.showAll = true; draw(); });
    return [
      h("p", { class: "muted" }, `${quality.flagged_count} of ${quality.clips} clips: listen, then relabel or delete them.`),
      tableWrap(h("table", { class: "attention" },
        h("thead", {}, h("tr", {}, ["Clip", "Label", "Speaker", "Flags", "Listen", "Fix"].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, shown.map(flaggedRow)))),
      toggle,
      unmeasured,
    ];
  }

  function flaggedRow(clip) {
    const name = clip.filename || clip.id.slice(0, 8);
    const url = `${path}/recordings/${clip.id}`;
    const words = clip.flags.map((flag) => {
      if (flag !== "near_duplicate" || !clip.duplicate_of) return FLAG_WORDS[flag] || flag;
      const original = clip.duplicate_of;
      const other = original.filename || original.id.slice(0, 8);
      return `near duplicate of ${other}${original.label !== clip.label ? ` (${original.label})` : ""}`;
    });
    const act = async (button, work, done) => {
      for (const b of button.closest("td").querySelectorAll("button")) b.disabled = true;
      try {
        await work();
        notify(done);
        refresh();
      } catch (err) {
        showError(err, `Could not change ${name}`);
        for (const b of button.closest("td").querySelectorAll("button")) b.disabled = false;
      }
    };
    const relabel = LABELS.filter((label) => label !== clip.label).map((label) => {
      const button = h("button", { type: "button", class: "small", "aria-label": `Mark ${name} as ${label}` }, label);
      button.addEventListener("click", () => act(button, () => api.patch(url, { label }), `Relabelled ${name} as ${label}`));
      return button;
    });
    const remove = h("button", { type: "button", class: "small danger", "aria-label": `Delete: move ${name} to the trash` }, "Delete");
    remove.addEventListener("click", () => act(remove, () => api.del(url), `Moved ${name} to the trash`));
    return h("tr", { dataset: { clipId: clip.id } },
      h("td", { class: "name", title: clip.id }, name),
      h("td", {}, h("span", { class: `chip ${clip.label}` }, clip.label)),
      h("td", { class: clip.speaker ? "speaker" : "speaker none" }, clip.speaker || "–"),
      h("td", { class: "warn flags" }, words.join(", ")),
      h("td", { class: "listen" }, h("audio", { controls: true, preload: "none", src: authedUrl(clip.audio_url), "aria-label": `Listen to ${name}` })),
      h("td", { class: "fix" }, h("span", { class: "fix-label muted" }, "relabel as "), relabel, " ", remove),
    );
  }

  function statsView(quality) {
    if (!quality.clips) return h("p", { class: "muted" }, "Nothing to chart yet: the histograms fill in as clips arrive.");
    const seconds = (v) => `${Number(v)}`;
    const decibels = (v) => (v < 0 ? `\u2212${-v}` : String(v));
    return [
      h("div", { class: "grid charts quality-charts" },
        h("div", { class: "chart-box", "data-chart": "durations" }, histogram({ title: "Clip durations", bins: bins(quality.duration_histogram), xLabel: "seconds", format: seconds })),
        h("div", { class: "chart-box", "data-chart": "levels" }, histogram({ title: "Clip levels (RMS)", bins: bins(quality.loudness_histogram), xLabel: "dBFS: 0 is full scale, speech sits near \u221220", format: decibels })),
      ),
      h("div", { class: "grid quality-groups" },
        groupTable("Speaker", "by-speaker", quality.by_speaker, "no speaker given"),
        groupTable("Source", "by-source", quality.by_source, "unknown"),
      ),
    ];
  }

  return { attention, stats, refresh };
}

function bins(histogram) {
  return histogram.bins.map((b) => ({ low: b.low, high: b.high, count: b.clips }));
}

function groupTable(title, key, groups, unnamed) {
  return h("div", { class: "chart-box" },
    h("h3", { class: "group-title" }, `Per ${title.toLowerCase()}`),
    tableWrap(h("table", { class: "quality-groups", "data-table": key },
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, title),
        ["Clips", "Mean length (s)", "Mean level (dBFS)", "Flagged"].map((c) => h("th", { scope: "col", class: "num" }, c)))),
      h("tbody", {}, groups.map((g) => h("tr", { dataset: { group: g.name ?? "" } },
        h("th", { scope: "row" }, g.name ?? h("span", { class: "muted" }, unnamed)),
        h("td", { class: "num" }, g.clips),
        h("td", { class: "num" }, g.mean_duration_s.toFixed(2)),
        h("td", { class: "num" }, g.mean_loudness_dbfs === null ? "–" : fmtNum(g.mean_loudness_dbfs, 3)),
        h("td", { class: g.flagged ? "num warn" : "num" }, g.flagged),
      ))))));
}
