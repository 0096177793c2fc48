// A dataset page's Synthesize card: a synthesize job (espeak-ng, Pico and Piper voices) that adds clips of the phrase,
// near misses and noise, in a language and voices of GET /synthesis/languages.

import { api } from "../api.js";
import { h, fill, field, notify } from "../dom.js";

// The API's own default language; the select starts there when the server speaks it.
const DEFAULT_LANGUAGE = "en";
const ENGINES = [["espeak", "espeak-ng"], ["pico", "Pico"], ["piper", "Piper"]];

/** The card, and `setDataset(dataset)` to prefill the phrase with the dataset's wake phrase. */
export function synthesizeCard(name) {
  const phrase = h("input", { name: "phrase", maxlength: 200, autocomplete: "off", class: "synth-phrase" });
  const language = h("select", { name: "language" }, h("option", { value: DEFAULT_LANGUAGE }, "Loading languages…"));
  const count = h("input", { name: "count", type: "number", min: 1, max: 5000, value: 100, required: true });
  const negatives = h("input", { name: "negatives", type: "number", min: 0, max: 10000 });
  const noise = h("input", { name: "noise", type: "number", min: 0, max: 1000 });
  const seed = h("input", { name: "seed", type: "number", min: 0, max: 2 ** 31 - 1, placeholder: "0" });
  const voices = h("div", { class: "voice-groups" });
  const start = h("button", { type: "submit", class: "primary" }, "Start synthesis");
  // The API's refusal, next to the button that asked (a 422 names what the server has instead).
  const problem = h("p", { id: "synth-error", class: "error synth-error", role: "alert" });
  let languages = [];
  let edited = false;

  // Empty counts mean the API's defaults, shown as they stand for the positives asked for.
  const defaults = () => {
    const n = Math.max(1, Math.round(Number(count.value)) || 1);
    negatives.placeholder = String(2 * n);
    noise.placeholder = String(Math.max(1, Math.floor(n / 10)));
  };
  count.addEventListener("input", defaults);
  defaults();
  phrase.addEventListener("input", () => { edited = true; });

  const showVoices = () => {
    const chosen = languages.find((l) => l.code === language.value);
    if (!chosen) {
      fill(voices, h("p", { class: "muted" }, "All of the language's voices."));
      return;
    }
    fill(voices, ENGINES.filter(([engine]) => chosen.voices[engine].length).map(([engine, title]) => h(
      "fieldset",
      { class: "voice-group", "data-engine": engine },
      h("legend", {}, title),
      chosen.voices[engine].map((voice) => h("label", { class: "voice" },
        h("input", { type: "checkbox", name: "voices", value: voice }),
        ` ${voice.slice(voice.indexOf(":") + 1)}`)),
    )));
  };
  language.addEventListener("change", showVoices);

  api.get("/synthesis/languages").then(
    (list) => {
      languages = list;
      const initial = list.some((l) => l.code === DEFAULT_LANGUAGE) ? DEFAULT_LANGUAGE : list[0] && list[0].code;
      const engineNames = Object.fromEntries(ENGINES);
      fill(language, list.map((l) => h("option", { value: l.code, selected: l.code === initial },
        `${l.code} (${l.engines.map((e) => engineNames[e] || e).join(", ")})`)));
      showVoices();
    },
    (err) => {
      fill(language, h("option", { value: DEFAULT_LANGUAGE }, DEFAULT_LANGUAGE));
      fill(voices, h("p", { class: "error" }, `The languages could not be loaded: ${err.detail || err.message || err}`));
    },
  );

  const form = h(
    "form",
    { class: "card", "aria-labelledby": "synth-title", "aria-describedby": "synth-about" },
    h("h2", { id: "synth-title" }, "Synthesize"),
    h("p", { id: "synth-about", class: "muted synth-about" },
      "A job speaks the phrase with the server's voices, adds near misses and noise, and stores them as synthetic clips; clips already in the dataset are skipped."),
    h("div", { class: "row" }, field("Phrase", phrase), field("Language", language)),
    h("div", { class: "row" },
      field("Positives", count),
      field("Near-miss negatives", negatives, "2 × positives if empty"),
      field("Noise clips", noise, "positives ÷ 10 if empty"),
      field("Seed", seed, "another seed, other clips")),
    h("fieldset", { class: "voices" }, h("legend", {}, "Voices ", h("span", { class: "muted" }, "(none ticked: all of them)")), voices),
    h("div", { class: "row tight start-row" }, start),
    problem,
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { count: Number(count.value), language: language.value };
    if (phrase.value.trim()) body.phrase = phrase.value.trim();
    if (negatives.value !== "") body.negatives = Number(negatives.value);
    if (noise.value !== "") body.noise = Number(noise.value);
    if (seed.value !== "") body.seed = Number(seed.value);
    const ticked = [...voices.querySelectorAll("input[name=voices]:checked")].map((box) => box.value);
    if (ticked.length) body.voices = ticked;
    problem.textContent = "";
    start.disabled = true;
    try {
      const job = await api.post(`/datasets/${encodeURIComponent(name)}/synthesize`, body);
      notify("Synthesis queued");
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      problem.textContent = `Synthesis refused: ${err.detail || err.message || err}`;
    } finally {
      start.disabled = false;
    }
  });

  return {
    card: form,
    setDataset(dataset) {
      phrase.placeholder = dataset.wake_phrase ? dataset.wake_phrase : "the dataset has no wake phrase: type one";
      if (!edited) phrase.value = dataset.wake_phrase || "";
    },
  };
}
