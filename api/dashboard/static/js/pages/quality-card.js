// A dataset's "Needs attention" card: the clips Dataset QA flagged (GET /datasets/{name}/quality), with their flags.

import { api, authedUrl } from "../api.js";
import { h, fill, tableWrap } from "../dom.js";

const FLAG_WORDS = {
  silent: "silent",
  clipped: "clipped (distorted)",
  too_quiet: "too quiet",
  cut_at_edge: "cut at the start or end",
  mostly_silence: "mostly silence",
};

/** The card and its `refresh()` (call it when the dataset's clips change). */
export function qualityCard(name) {
  const path = `/datasets/${encodeURIComponent(name)}/quality`;
  const body = h("div", {}, h("p", { class: "muted" }, "Checking clips…"));
  const card = h("section", { class: "card quality-card", "aria-labelledby": "attention-title" }, h("h2", { id: "attention-title" }, "Needs attention"), body);
  let seq = 0;

  async function refresh() {
    const mine = ++seq;
    try {
      const quality = await api.get(path);
      if (mine !== seq) return;
      if (!quality.flagged.length) {
        fill(body, h("p", { class: "muted" }, quality.clips ? `All ${quality.clips} clips look fine.` : "Nothing to check yet."));
        return;
      }
      const rows = quality.flagged.map((clip) =>
        h("tr", { dataset: { clipId: clip.id } },
          h("td", {}, clip.filename || clip.id.slice(0, 8)),
          h("td", {}, clip.label),
          h("td", {}, clip.speaker || "–"),
          h("td", { class: "warn flags" }, clip.flags.map((flag) => FLAG_WORDS[flag] || flag).join(", ")),
          h("td", {}, h("audio", { controls: true, preload: "none", src: authedUrl(clip.audio_url) })),
        ));
      fill(body,
        h("p", { class: "muted" }, `${quality.flagged_count} of ${quality.clips} clips: listen, then relabel or delete them in the clips table.`),
        tableWrap(h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Clip"), h("th", {}, "Label"), h("th", {}, "Speaker"), h("th", {}, "Flags"), h("th", {}, "Listen"))), h("tbody", {}, rows))));
    } catch (err) {
      if (mine !== seq) return;
      fill(body, h("p", { class: "error", role: "alert" }, err.detail || String(err)));
    }
  }

  return { card, refresh };
}
