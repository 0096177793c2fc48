// The "Record in the browser" card: takes of one label, or the guided session that records your voice (the wake
// phrase, other sentences and near misses of it, your room) and then fine-tunes the dataset's best model on it.

import { api } from "../api.js";
import { h, fill, field, select, notify, showError } from "../dom.js";
import { Microphone } from "../recorder.js";

export const LABELS = [["positive", "positive"], ["negative", "negative"], ["noise", "noise"]];
const PROMPTS = {
  positive: (phrase) => `say “${phrase || "the wake phrase"}”`,
  negative: () => "say something else: a near miss or any other words",
  noise: () => "stay quiet: record the room",
};
const SENTENCES = 5;
const NEAR_MISSES = 2;
// An everyday sentence takes longer to say than the phrase.
const SENTENCE_S = 3.5;
const GET_READY_MS = 800;
const DEFAULT_SPEAKER = "me";

/** The train job a fine-tune starts from: the lowest validation FRR at its shipped threshold, the newest of a tie. */
export function bestBaseJob(jobs) {
  let best = null;
  const frr = (job) => (typeof job.metrics?.val_frr === "number" ? job.metrics.val_frr : Infinity);
  for (const job of jobs) {
    if (job.kind !== "train" || job.status !== "succeeded") continue;
    const newer = !best || job.created_at > best.created_at;
    if (!best || frr(job) < frr(best) || (frr(job) === frr(best) && newer)) best = job;
  }
  return best;
}

export function recordCard(name) {
  const path = `/datasets/${encodeURIComponent(name)}`;
  const label = select("label", LABELS, "positive");
  const speaker = h("input", { name: "speaker", autocomplete: "off", maxlength: 128, placeholder: DEFAULT_SPEAKER });
  const takes = h("input", { name: "takes", type: "number", min: 1, max: 50, value: 10 });
  const seconds = h("input", { name: "seconds", type: "number", min: 0.5, max: 10, step: 0.5, value: 2 });
  const roomSeconds = h("input", { name: "room_seconds", type: "number", min: 5, max: 60, step: 1, value: 20 });
  const start = h("button", { type: "button", class: "primary" }, "Record 10 takes");
  const guided = h("button", { type: "button", "aria-describedby": "guided-about" }, "Record my voice");
  const stopButton = h("button", { type: "button", disabled: true }, "Stop");
  const prompt = h("p", { class: "prompt", "aria-live": "assertive" }, "Press record; each take is prompted in turn.");
  const level = h("div", { class: "level", "aria-hidden": "true" }, h("div", { class: "level-fill" }));
  const list = h("ol", { class: "takes" });
  const tally = h("p", { class: "muted tally", "aria-live": "polite" });
  const voice = voicePanel(name);
  let phrase = "";
  let controller = null;
  let mic = null;

  takes.addEventListener("input", () => { start.textContent = `Record ${takes.value || 0} takes`; });

  /** Record one take and store it; true when it was stored. */
  async function take(what, text, length, signal, fields) {
    prompt.textContent = `${what}: get ready…`;
    await sleep(GET_READY_MS, signal);
    prompt.textContent = `${what}: ${text}`;
    prompt.classList.add("live");
    const blob = await mic.record(length, signal);
    prompt.classList.remove("live");
    const item = h("li", {}, `${what}: uploading…`);
    list.append(item);
    const form = new FormData();
    form.append("label", fields.label);
    if (fields.speaker) form.append("speaker", fields.speaker);
    if (fields.notes) form.append("notes", fields.notes);
    form.append("source", "recording");
    form.append("files", blob, `${fields.label}-${stamp()}-${list.children.length}.wav`);
    try {
      const result = await api.upload(`${path}/recordings`, form);
      item.textContent = `${what}: stored as ${fields.label} (${result.clips[0].duration_s.toFixed(1)} s)`;
      item.className = "ok";
      return true;
    } catch (err) {
      item.textContent = `${what}: ${err.detail || err.message}`;
      item.className = "error";
      showError(err, `${what} refused`);
      return false;
    }
  }

  /** Open the microphone, run `session` with it, and put the card back however it ends. */
  async function withMicrophone(session) {
    controller = new AbortController();
    start.disabled = guided.disabled = true;
    stopButton.disabled = false;
    fill(list);
    try {
      prompt.textContent = "Asking for the microphone…";
      mic = await Microphone.open();
      mic.onLevel = (rms) => { level.firstChild.style.width = `${Math.min(100, rms * 400)}%`; };
      await session(controller.signal);
    } catch (err) {
      if (err.name === "AbortError") prompt.textContent = `Stopped: ${list.querySelectorAll("li.ok").length} takes stored.`;
      else {
        prompt.textContent = "Recording failed.";
        showError(err, "Microphone");
      }
    } finally {
      // Levels still in flight from the worklet would refill the meter after it is emptied.
      if (mic) {
        mic.onLevel = null;
        mic.close();
      }
      mic = null;
      prompt.classList.remove("live");
      level.firstChild.style.width = "0";
      start.disabled = guided.disabled = false;
      stopButton.disabled = true;
      controller = null;
    }
  }

  const length = () => Math.max(0.5, Math.min(10, Number(seconds.value) || 2));
  const count = () => Math.max(1, Math.min(50, Math.round(Number(takes.value) || 10)));

  start.addEventListener("click", () => withMicrophone(async (signal) => {
    const n = count();
    const fields = { label: label.value, speaker: speaker.value.trim() };
    let stored = 0;
    for (let i = 1; i <= n; i++) {
      if (await take(`Take ${i} of ${n}`, `${PROMPTS[label.value](phrase)} now`, length(), signal, fields)) stored += 1;
    }
    prompt.textContent = `Done: ${stored} of ${n} takes stored as ${label.value}.`;
  }));

  // Your phrase, then other things you say (which must not wake it), then your room, all under one speaker: the
  // model then hears your voice and your room on both sides of the line it learns to draw.
  guided.addEventListener("click", () => withMicrophone(async (signal) => {
    if (!speaker.value.trim()) speaker.value = DEFAULT_SPEAKER;
    const who = speaker.value.trim();
    voice.hide();
    const prompts = await api.get(`${path}/prompts`);
    const sentences = shuffled(prompts.sentences).slice(0, SENTENCES);
    const misses = prompts.near_misses.slice(0, NEAR_MISSES);
    const n = count();
    const room = Math.max(5, Math.min(60, Math.round(Number(roomSeconds.value) || 20)));
    const stored = { positive: 0, negative: 0, noise: 0 };
    const steps = n + sentences.length + misses.length + 1;
    let step = 0;
    const record = async (text, length, fields) => {
      step += 1;
      if (await take(`Step ${step} of ${steps}`, text, length, signal, { speaker: who, ...fields })) stored[fields.label] += 1;
    };
    for (let i = 0; i < n; i++) await record(`${PROMPTS.positive(phrase)} now`, length(), { label: "positive" });
    for (const sentence of sentences) {
      await record(`say “${sentence}”`, Math.max(length(), SENTENCE_S), { label: "negative", notes: `said: ${sentence}` });
    }
    for (const miss of misses) {
      await record(`say “${miss}” (not the wake phrase)`, length(), { label: "negative", notes: `near miss: ${miss}` });
    }
    await record(`stay quiet for ${room} s: recording your room`, room, { label: "noise", notes: "room background" });
    prompt.textContent = `Done: ${stored.positive} takes of the phrase, ${stored.negative} other phrases and ${stored.noise} room recording stored as ${who}.`;
    voice.show(stored);
  }));
  stopButton.addEventListener("click", () => controller && controller.abort());

  const card = h(
    "section",
    { class: "card", "aria-labelledby": "record-title" },
    h("h2", { id: "record-title" }, "Record in the browser"),
    h("div", { class: "row" }, field("Label", label), field("Speaker", speaker, "your name: your clips count more"), field("Takes", takes), field("Seconds per take", seconds)),
    h("div", { class: "row tight" }, start, stopButton),
    h("div", { class: "row tight guided-row" }, guided, field("Seconds of room", roomSeconds)),
    h("p", { id: "guided-about", class: "muted" }, `“Record my voice” records your takes of the phrase, ${SENTENCES} everyday sentences and ${NEAR_MISSES} near misses of it (as negatives) and your room (as noise); then it offers to fine-tune the best model on them.`),
    prompt,
    level,
    tally,
    list,
    voice.panel,
  );
  return {
    card,
    setDataset(dataset) {
      phrase = dataset.wake_phrase || "";
      const t = dataset.training;
      tally.textContent = `So far: ${t.positive_clips} of ${t.min_positive_clips} positive, ${t.negative_clips} of ${t.min_negative_clips} negative or noise clips needed to train.`;
    },
    jobsChanged() {
      voice.refresh();
    },
    stop() {
      if (controller) controller.abort();
      if (mic) mic.close();
      mic = null;
    },
  };
}

/** After a guided session: "Train with my voice", a fine-tune of the dataset's best model, or why it cannot start. */
function voicePanel(name) {
  const button = h("button", { type: "button", class: "primary", disabled: true, "aria-describedby": "voice-why" }, "Train with my voice");
  const why = h("span", { id: "voice-why", class: "warn", "aria-live": "polite" });
  const panel = h("div", { class: "voice-train", hidden: true }, h("h3", {}, "Train with your voice"), h("p", { class: "muted voice-summary" }), h("div", { class: "row tight" }, button, why));
  let base = null;
  let sending = false;

  async function refresh() {
    if (panel.hidden) return;
    try {
      const page = await api.get("/jobs", { dataset: name, status: "succeeded", limit: 100 });
      base = bestBaseJob(page.items);
    } catch (err) {
      base = null;
      why.textContent = `The trainings of ${name} could not be listed: ${err.detail || err.message}`;
      button.disabled = true;
      return;
    }
    button.disabled = sending || !base;
    why.className = base ? "muted" : "warn";
    why.textContent = base
      ? `Fine-tunes job ${base.id.slice(0, 8)}${typeof base.metrics?.val_frr === "number" ? ` (it misses ${(100 * base.metrics.val_frr).toFixed(1)}% of validation phrases)` : ""}: about a third of its training time.`
      : "No training of this dataset has finished yet: train it once (the Train card), then fine-tune that model with your voice.";
    button.dataset.base = base ? base.id : "";
  }

  button.addEventListener("click", async () => {
    if (!base) return;
    sending = true;
    button.disabled = true;
    try {
      const job = await api.post("/train", { dataset: name, config_overrides: { base_job: base.id } });
      notify("Fine-tuning with your voice queued");
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      showError(err, "Training refused");
    } finally {
      sending = false;
      button.disabled = !base;
    }
  });

  return {
    panel,
    refresh,
    show(stored) {
      panel.querySelector(".voice-summary").textContent = `Your voice is in the dataset: ${stored.positive} takes of the phrase, ${stored.negative} other phrases, ${stored.noise} recording of your room.`;
      panel.hidden = false;
      refresh();
    },
    hide() {
      panel.hidden = true;
    },
  };
}

function shuffled(items) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Local time as 20261129-134220, for recorded file names. */
function stamp() {
  const d = new Date();
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new DOMException("recording stopped", "AbortError"));
    });
  });
}
