// A finished synthesis job's result: the clips it added by label and by voice, and a few of them to hear.

import { authedUrl } from "../api.js";
import { h } from "../dom.js";

const LABEL_WORDS = {
  positive: ["positive (the phrase)", "positives (the phrase)"],
  negative: ["near miss", "near misses"],
  noise: ["noise clip", "noise clips"],
};
// Enough voices to see the variety; the rest are summed in one line.
const VOICES_SHOWN = 8;

export function synthesisResult(job) {
  const m = job.metrics || {};
  const byLabel = m.added_by_label || {};
  const labels = Object.entries(byLabel).map(([label, n]) => `${n} ${(LABEL_WORDS[label] || [label, label])[n === 1 ? 0 : 1]}`);
  const voices = Object.entries(m.voices || {});
  const shown = voices.slice(0, VOICES_SHOWN);
  const rest = voices.slice(VOICES_SHOWN).reduce((sum, [, n]) => sum + n, 0);
  const dataset = encodeURIComponent(job.dataset);
  return h("section", { class: "card", "aria-labelledby": "result-title" },
    h("h2", { id: "result-title" }, "Done"),
    h("p", { class: "synthesis-summary" },
      `Added ${m.clips_added ?? 0} clips to `, h("a", { href: `#/datasets/${dataset}` }, job.dataset),
      labels.length ? `: ${labels.join(", ")}` : "",
      m.seconds ? ` (${Math.round(m.seconds)} s of audio)` : "",
      m.clips_skipped ? `; ${m.clips_skipped} were already in the dataset.` : "."),
    voices.length ? h("div", {},
      h("h3", { class: "group-title" }, `Voices used (${voices.length})`),
      h("ul", { class: "voice-list" },
        ...shown.map(([voice, n]) => h("li", {}, h("code", {}, voice), ` · ${n} clip${n === 1 ? "" : "s"}`)),
        rest ? h("li", {}, `and ${voices.length - VOICES_SHOWN} more voices · ${rest} clips`) : null)) : null,
    (m.samples || []).length ? h("div", {},
      h("h3", { class: "group-title" }, "Listen to a few"),
      h("ul", { class: "sample-list" }, ...m.samples.map((s) => h("li", {},
        h("span", { class: `chip ${s.label}` }, s.label), " ",
        h("span", {}, s.text || s.speaker || ""), " ",
        h("audio", { controls: true, preload: "none", src: authedUrl(`/datasets/${dataset}/recordings/${s.id}/audio`), "aria-label": `${s.label} clip ${s.text || ""}` }))))) : null);
}
