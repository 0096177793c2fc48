// A dataset's page: readiness, upload (drag and drop), guided recording, synthesis, the clips table with the trash,
// training and the dataset's job history, all kept current by the dataset's event stream.

import { api, authedUrl, subscribe } from "../api.js";
import { h, fill, field, select, debounce, notify, showError, fmtDate, fmtNum, tableWrap } from "../dom.js";
import { jobTable } from "./jobs.js";
import { synthesizeCard } from "./synthesize.js";
import { FLAG_WORDS, qualityCards } from "./quality-card.js";
import { LABELS, recordCard } from "./record-card.js";

const SOURCES = [["upload", "upload"], ["recording", "recording"], ["synthetic", "synthetic"], ["device", "device"]];
// The clip table's sortable columns (the API's `sort` keys) and the way each first sorts when chosen.
const SORTABLE = { created_at: ["Created", "-"], duration_s: ["Duration", "-"], label: ["Label", ""] };
const PAGE = 50;
const BATCH_FILES = 50;
const BATCH_BYTES = 16 * 1024 * 1024;

export function render(main, name) {
  const path = `/datasets/${encodeURIComponent(name)}`;
  const state = { dataset: null, view: "active", label: "", source: "", speaker: "", flag: "", sort: "-created_at", offset: 0, alive: true, pendingClips: false, clipsAsked: 0 };
  const heading = h("h1", {}, name);
  const about = h("p", { class: "muted" });
  const readiness = h("section", { class: "card readiness", "aria-labelledby": "ready-title" }, h("h2", { id: "ready-title" }, "Ready to train?"), h("p", { class: "muted" }, "Loading…"));
  const clipsBody = tableWrap(h("p", { class: "muted" }, "Loading clips…"));
  const speakers = select("speaker", [["", "all speakers"]], "", { class: "speaker-filter" });
  const pager = h("div", { class: "pager" });
  const jobsBody = tableWrap();
  const recorder = recordCard(name);
  const train = trainCard(name);
  const synthesize = synthesizeCard(name);
  const quality = qualityCards(name);

  fill(
    main,
    h("p", {}, h("a", { href: "#/" }, "← Datasets")),
    heading,
    about,
    readiness,
    quality.attention,
    h("div", { class: "grid" }, uploadCard(path), recorder.card),
    synthesize.card,
    train.card,
    h("section", { class: "card", "aria-labelledby": "history-title" }, h("div", { class: "card-head" }, h("h2", { id: "history-title" }, "Training history"), h("a", { href: `#/datasets/${encodeURIComponent(name)}/compare`, class: "button small" }, "Compare jobs")), jobsBody),
    quality.stats,
    clipsCard(),
  );

  function clipsCard() {
    const view = select("view", [["active", "Active clips"], ["trash", "Trash"]], state.view, { class: "view-select" });
    view.addEventListener("change", () => {
      state.view = view.value;
      state.offset = 0;
      refreshClips();
    });
    const filter = (key, control) => {
      control.addEventListener("change", () => {
        state[key] = control.value;
        state.offset = 0;
        refreshClips();
      });
      return control;
    };
    const label = filter("label", select("label", [["", "all labels"], ...LABELS], ""));
    const source = filter("source", select("source", [["", "all sources"], ...SOURCES], ""));
    const flag = filter("flag", select("flag", [["", "all clips"], ["any", "any flag"], ...Object.entries(FLAG_WORDS)], ""));
    const card = h(
      "section",
      { class: "card", "aria-labelledby": "clips-title" },
      h("div", { class: "card-head" }, h("h2", { id: "clips-title" }, "Clips"), h("div", { class: "row tight filters" },
        field("Show", view), field("Label", label), field("Source", source), field("Speaker", filter("speaker", speakers)), field("Flag", flag))),
      clipsBody,
      pager,
    );
    // A refresh while someone edits a cell would throw their typing away: it waits until they leave it.
    card.addEventListener("focusout", () => setTimeout(() => {
      if (state.pendingClips && !editing()) refreshClips();
    }, 0));
    return card;
  }

  /** Someone is typing into a cell and has not saved it yet. */
  function editing() {
    const el = document.activeElement;
    return el && clipsBody.contains(el) && el.matches("input") && el.value !== el.dataset.saved;
  }

  async function refreshDataset() {
    try {
      const dataset = await api.get(path);
      if (!state.alive) return;
      state.dataset = dataset;
      heading.textContent = dataset.name;
      about.textContent = [dataset.wake_phrase ? `Wake phrase “${dataset.wake_phrase}”` : "", dataset.description || ""].filter(Boolean).join(" · ");
      recorder.setDataset(dataset);
      train.setDataset(dataset);
      synthesize.setDataset(dataset);
      fill(readiness, h("h2", { id: "ready-title" }, "Ready to train?"), readinessView(dataset));
    } catch (err) {
      if (!state.alive) return;
      fill(readiness, h("h2", { id: "ready-title" }, "Ready to train?"), h("p", { class: "error", role: "alert" }, err.detail || String(err)));
    }
  }

  async function refreshClips() {
    if (editing()) {
      state.pendingClips = true;
      return;
    }
    state.pendingClips = false;
    // Answers can arrive out of order (a delete's refresh, then the switch to the trash): only the last one asked
    // may fill the table, or the trash would show the active clips.
    const asked = ++state.clipsAsked;
    try {
      const page = await api.get(`${path}/recordings`, {
        deleted: state.view === "trash" ? "true" : "false",
        label: state.label || undefined,
        source: state.source || undefined,
        speaker: state.speaker || undefined,
        flag: state.flag || undefined,
        sort: state.sort,
        limit: PAGE,
        offset: state.offset,
      });
      if (!state.alive || asked !== state.clipsAsked) return;
      // A keyboard user keeps their place: focus goes back to the same control of the same clip.
      const focused = document.activeElement;
      const row = clipsBody.contains(focused) && focused.closest("tr[data-clip]");
      const place = row && focused.dataset.field ? [row.dataset.clip, focused.dataset.field] : null;
      const sorted = clipsBody.contains(focused) && focused.dataset.sort;
      const filtered = Boolean(state.label || state.source || state.speaker || state.flag);
      fill(clipsBody, clipTable(page.items, { trash: state.view === "trash", filtered, sort: state.sort, onSort: sortBy }, path, refreshAll));
      if (place) clipsBody.querySelector(`tr[data-clip="${place[0]}"] [data-field="${place[1]}"]`)?.focus();
      if (sorted) clipsBody.querySelector(`button[data-sort="${sorted}"]`)?.focus();
      fill(pager, pagerView(page));
    } catch (err) {
      if (state.alive && asked === state.clipsAsked) fill(clipsBody, h("p", { class: "error" }, err.detail || String(err)));
    }
  }

  function sortBy(column) {
    const [, first] = SORTABLE[column];
    const now = state.sort.replace(/^-/, "");
    state.sort = now === column ? (state.sort.startsWith("-") ? column : `-${column}`) : `${first}${column}`;
    state.offset = 0;
    refreshClips();
  }

  /** The speakers of the dataset's clips, for the filter; the one chosen stays chosen even once it has no clips. */
  async function refreshSpeakers() {
    try {
      const metrics = await api.get(`${path}/metrics`);
      if (!state.alive) return;
      const names = metrics.by_speaker.map((s) => s.speaker).filter((s) => s);
      if (state.speaker && !names.includes(state.speaker)) names.push(state.speaker);
      names.sort((a, b) => a.localeCompare(b));
      fill(speakers, h("option", { value: "" }, "all speakers"), names.map((n) => h("option", { value: n, selected: n === state.speaker }, n)));
    } catch {
      // The filter keeps its old choices; the clips table shows any error of the API.
    }
  }

  function pagerView(page) {
    if (page.total === 0) return null;
    if (page.total <= page.limit && page.offset === 0) return h("span", { class: "muted" }, `${page.total} clip${page.total === 1 ? "" : "s"}`);
    const prev = h("button", { type: "button", class: "small", disabled: page.offset === 0 }, "Previous");
    const next = h("button", { type: "button", class: "small", disabled: page.offset + page.limit >= page.total }, "Next");
    prev.addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); refreshClips(); });
    next.addEventListener("click", () => { state.offset += PAGE; refreshClips(); });
    const end = Math.min(page.total, page.offset + page.items.length);
    return h("span", {}, prev, ` ${page.offset + 1}–${end} of ${page.total} `, next);
  }

  async function refreshJobs() {
    try {
      const jobs = await api.get("/jobs", { dataset: name, limit: 20 });
      if (state.alive) fill(jobsBody, jobTable(jobs.items, { showDataset: false }));
      recorder.jobsChanged();
    } catch (err) {
      if (state.alive) fill(jobsBody, h("p", { class: "error" }, err.detail || String(err)));
    }
  }

  function refreshAll() {
    refreshDataset();
    quality.refresh();
    refreshClips();
    refreshSpeakers();
  }

  refreshAll();
  refreshJobs();
  const laterAll = debounce(refreshAll, 250);
  const laterJobs = debounce(refreshJobs, 500);
  const source = subscribe("/events", { dataset: name }, (event) => {
    if (event.type === "dataset.deleted") {
      notify(`Dataset ${name} was deleted`, "error");
      location.hash = "#/";
    } else if (event.type.startsWith("dataset.")) {
      laterAll();
    } else if (event.type.startsWith("job.") && event.type !== "job.log") {
      laterJobs();
    }
  }, () => { laterAll(); laterJobs(); });

  return () => {
    state.alive = false;
    source.close();
    recorder.stop();
    stopPlayback();
  };
}

function readinessView(dataset) {
  const t = dataset.training;
  const counts = dataset.clip_counts;
  const meter = (text, have, need, id) => h("div", { class: "meter-row" },
    h("label", { for: id }, `${text}: `, h("strong", { "data-count": id }, have), ` of ${need} needed`),
    h("meter", { id, min: 0, max: need, low: need, optimum: need, value: Math.min(have, need) }, `${have}/${need}`),
  );
  return h("div", {},
    h("div", { class: "meters" },
      meter("Positive clips", t.positive_clips, t.min_positive_clips, "meter-positive"),
      meter("Negative and noise clips", t.negative_clips, t.min_negative_clips, "meter-negative"),
    ),
    h("p", { class: "counts" },
      LABELS.map(([label]) => h("span", { class: `chip ${label}`, "data-label-count": label }, `${label} ${counts[label] || 0}`)),
      h("span", { class: "chip" }, `trash ${dataset.deleted_clips}`),
    ),
    dataset.unreviewed_clips
      ? h("p", { class: "warn review-note" }, h("a", { href: `#/datasets/${encodeURIComponent(dataset.name)}/review`, class: "review-count" },
        `${dataset.unreviewed_clips} clip${dataset.unreviewed_clips === 1 ? "" : "s"} to review`), ": sent by devices, left out of training until reviewed.")
      : null,
    t.ready
      ? h("p", { class: "ok" }, "✓ Enough clips to train.")
      : h("p", { class: "warn" }, `Still needed: ${t.missing.join(", ")}.`),
    (dataset.warnings || []).length
      ? h("ul", { class: "warnings dataset-warnings", role: "note" }, dataset.warnings.map((w) => h("li", {}, w)))
      : null,
  );
}

function uploadCard(path) {
  const label = select("label", LABELS, "positive");
  const speaker = h("input", { name: "speaker", autocomplete: "off", maxlength: 128 });
  const input = h("input", { type: "file", name: "files", multiple: true, accept: "audio/*,.wav,.flac,.ogg,.oga,.opus", class: "file-input" });
  const status = h("p", { class: "muted", "aria-live": "polite" });
  const zone = h(
    "div",
    { class: "dropzone" },
    h("p", {}, "Drop WAV, FLAC or OGG files here, or"),
    h("label", { class: "button", for: "upload-files" }, "Choose files…"),
    status,
  );
  input.id = "upload-files";

  async function send(files) {
    if (!files.length) return;
    // One request per batch keeps each under the API's body limit; each batch is stored whole or not at all.
    const batches = [];
    let batch = [];
    let bytes = 0;
    for (const file of files) {
      if (batch.length && (batch.length >= BATCH_FILES || bytes + file.size > BATCH_BYTES)) {
        batches.push(batch);
        batch = [];
        bytes = 0;
      }
      batch.push(file);
      bytes += file.size;
    }
    batches.push(batch);
    let stored = 0;
    try {
      for (const [i, part] of batches.entries()) {
        const of = batches.length > 1 ? ` (part ${i + 1} of ${batches.length})` : "";
        status.textContent = `Uploading ${files.length} file${files.length === 1 ? "" : "s"}${of}…`;
        const form = new FormData();
        form.append("label", label.value);
        if (speaker.value.trim()) form.append("speaker", speaker.value.trim());
        form.append("source", "upload");
        for (const file of part) form.append("files", file, file.name);
        const result = await api.upload(`${path}/recordings`, form);
        stored += result.clips.length;
      }
      status.textContent = `Stored ${stored} ${label.value} clip${stored === 1 ? "" : "s"}.`;
    } catch (err) {
      status.textContent = stored ? `Stored the first ${stored} of ${files.length} files; the rest were not stored.` : "Nothing was stored.";
      showError(err, "Upload refused");
    } finally {
      input.value = "";
    }
  }

  input.addEventListener("change", () => send([...input.files]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    send([...event.dataTransfer.files]);
  });
  return h(
    "section",
    { class: "card", "aria-labelledby": "upload-title" },
    h("h2", { id: "upload-title" }, "Upload clips"),
    h("div", { class: "row" }, field("Label", label), field("Speaker", speaker, "optional")),
    input,
    zone,
  );
}

let playing = null;

function stopPlayback() {
  if (playing) {
    playing.audio.pause();
    playing.button.textContent = "▶";
    playing.button.setAttribute("aria-label", playing.label);
  }
  playing = null;
}

function playButton(clip) {
  const label = `Play clip ${clip.original_filename || clip.id}`;
  const button = h("button", { type: "button", class: "small", "aria-label": label, "data-field": "play" }, "▶");
  if (playing && playing.clipId === clip.id) {
    // The table was redrawn while this clip plays: the new button takes over.
    playing.button = button;
    button.textContent = "■";
    button.setAttribute("aria-label", `Stop ${label.slice(5)}`);
  }
  button.addEventListener("click", async () => {
    const same = playing && playing.clipId === clip.id;
    stopPlayback();
    if (same) return;
    const audio = new Audio(authedUrl(clip.audio_url));
    playing = { audio, button, label, clipId: clip.id };
    button.textContent = "■";
    button.setAttribute("aria-label", `Stop ${label.slice(5)}`);
    audio.addEventListener("ended", stopPlayback);
    try {
      await audio.play();
    } catch (err) {
      stopPlayback();
      showError(err, "Cannot play the clip");
    }
  });
  return button;
}

function clipTable(clips, { trash, filtered, sort, onSort }, path, refresh) {
  if (!clips.length) {
    if (filtered) return h("p", { class: "muted" }, "No clips match these filters.");
    return h("p", { class: "muted" }, trash ? "The trash is empty." : "No clips yet: upload or record some.");
  }
  const sortKey = Object.fromEntries(Object.entries(SORTABLE).map(([key, [text]]) => [text, key]));
  const head = (c) => {
    if (c === "Play" || c === "Actions") return h("th", { scope: "col" }, h("span", { class: "sr-only" }, c));
    const key = sortKey[c];
    if (!key) return h("th", { scope: "col", class: c === "Duration" || c === "Loudness" ? "num" : null }, c);
    const active = sort.replace(/^-/, "") === key;
    const order = active ? (sort.startsWith("-") ? "descending" : "ascending") : null;
    const button = h("button", { type: "button", class: "sort", "data-sort": key }, c, h("span", { "aria-hidden": "true" }, order === "descending" ? " ▼" : order === "ascending" ? " ▲" : " ↕"));
    button.addEventListener("click", () => onSort(key));
    return h("th", { scope: "col", "aria-sort": order, class: key === "duration_s" ? "num" : null }, button);
  };
  const cols = ["Play", "Clip", "Label", "Speaker", "Notes", "Duration", "Loudness", "Source", "Created", trash ? "Deleted" : "", "Actions"].filter((c) => c !== "");
  return h(
    "table",
    { class: "clips" },
    h("thead", {}, h("tr", {}, cols.map(head))),
    h("tbody", {}, clips.map((clip) => clipRow(clip, trash, path, refresh))),
  );
}

function clipRow(clip, trash, path, refresh) {
  const url = `${path}/recordings/${clip.id}`;
  const name = clip.original_filename || clip.id.slice(0, 8);
  async function save(changes, what) {
    try {
      await api.patch(url, changes);
      notify(`Saved ${what} of ${name}`);
    } catch (err) {
      showError(err, `Could not change ${what}`);
      refresh();
    }
  }
  let labelCell;
  let speakerCell;
  let notesCell;
  if (trash) {
    labelCell = h("span", { class: `chip ${clip.label}` }, clip.label);
    speakerCell = clip.speaker || "";
    notesCell = clip.notes || "";
  } else {
    const label = select("label", LABELS, clip.label, { "aria-label": `Label of ${name}`, "data-field": "label" });
    label.addEventListener("change", () => save({ label: label.value }, "the label"));
    const text = (field, value, attrs) => {
      const input = h("input", { value: value || "", "data-saved": value || "", "data-field": field, ...attrs });
      input.addEventListener("change", async () => {
        input.dataset.saved = input.value;
        await save({ [field]: input.value.trim() || null }, `the ${field}`);
      });
      return input;
    };
    const speaker = text("speaker", clip.speaker, { maxlength: 128, "aria-label": `Speaker of ${name}`, class: "cell" });
    const notes = text("notes", clip.notes, { maxlength: 2000, "aria-label": `Notes on ${name}`, class: "cell wide" });
    [labelCell, speakerCell, notesCell] = [label, speaker, notes];
  }
  const action = h("button", { type: "button", class: trash ? "small" : "small danger", "aria-label": `${trash ? "Restore" : "Delete"} ${name}`, "data-field": "action" }, trash ? "Restore" : "Delete");
  action.addEventListener("click", async () => {
    try {
      if (trash) await api.post(`${url}/restore`);
      else await api.del(url);
      notify(trash ? `Restored ${name}` : `Moved ${name} to the trash`);
      refresh();
    } catch (err) {
      showError(err, trash ? "Could not restore" : "Could not delete");
    }
  });
  return h(
    "tr",
    { "data-clip": clip.id },
    h("td", {}, playButton(clip)),
    h("td", { class: "name", title: clip.id }, name),
    h("td", { "data-col": "label" }, labelCell),
    h("td", { "data-col": "speaker" }, speakerCell),
    h("td", {}, notesCell),
    h("td", { class: "num", "data-col": "duration" }, `${clip.duration_s.toFixed(2)} s`),
    h("td", { class: "num" }, `${fmtNum(clip.loudness_dbfs, 3)} dBFS`),
    h("td", { "data-col": "source" }, clip.source, clip.review === "unreviewed" ? [" ", h("span", { class: "chip unreviewed" }, "to review")] : null),
    h("td", { "data-col": "created", title: clip.created_at }, fmtDate(clip.created_at)),
    trash ? h("td", {}, fmtDate(clip.deleted_at)) : null,
    h("td", {}, action),
  );
}

// Chosen until the user picks another: the preset that trains with the defaults, when the server has it.
const DEFAULT_PRESET = "small";

function trainCard(name) {
  const preset = select("preset", [["", "Loading presets…"]], "", { "aria-describedby": "preset-about" });
  const about = h("p", { id: "preset-about", class: "muted preset-about", "aria-live": "polite" });
  let presets = [];
  const epochs = h("input", { name: "epochs", type: "number", min: 1, max: 500, placeholder: "default" });
  const steps = h("input", { name: "steps_per_epoch", type: "number", min: 1, placeholder: "default" });
  const batch = h("input", { name: "batch_size", type: "number", min: 1, placeholder: "default" });
  const extra = h("textarea", { name: "overrides", rows: 3, spellcheck: "false", placeholder: '{"learning_rate": 0.001, "augment": true, "target_fa_per_hour": 0.5}' });
  const start = h("button", { type: "submit", class: "primary", "aria-describedby": "train-why" }, "Start training");
  // Why training cannot start yet, in the API's words (its readiness is the check POST /train makes).
  const why = h("span", { id: "train-why", class: "warn train-why", "aria-live": "polite" });
  let ready = true;
  let sending = false;
  const gate = () => { start.disabled = sending || !ready; };
  const form = h(
    "form",
    { class: "card", "aria-labelledby": "train-title" },
    h("h2", { id: "train-title" }, "Train"),
    h("div", { class: "row" }, field("Preset", preset), field("Epochs", epochs), field("Steps per epoch", steps), field("Batch size", batch)),
    about,
    field("More overrides (JSON)", extra, "keys: epochs, steps_per_epoch, batch_size, learning_rate, window_s, seed, augment, warmup_fraction, target_fa_per_hour, hard_negative_weight, ema_decay, background_speech_s, patience, user_clip_weight, user_batch_share, user_counterparts, base_job (a job to fine-tune), finetune_fraction, finetune_lr_factor"),
    h("div", { class: "row tight start-row" }, start, why),
  );
  // The server's presets (built-in and WAKE_TRAINING_PRESETS's): the chosen one's description, and its values as
  // the placeholders of the fields that override them.
  const describe = () => {
    const chosen = presets.find((p) => p.name === preset.value);
    about.textContent = chosen ? chosen.description : "";
    for (const [input, key] of [[epochs, "epochs"], [steps, "steps_per_epoch"], [batch, "batch_size"]]) {
      input.placeholder = chosen ? String(chosen.config[key]) : "default";
    }
  };
  preset.addEventListener("change", describe);
  api.get("/presets").then(
    (list) => {
      presets = list;
      const initial = list.some((p) => p.name === DEFAULT_PRESET) ? DEFAULT_PRESET : list[0] && list[0].name;
      fill(preset, list.map((p) => h("option", { value: p.name, selected: p.name === initial, title: p.description }, p.name)));
      describe();
    },
    (err) => {
      fill(preset, h("option", { value: "" }, "default"));
      about.className = "error preset-about";
      about.textContent = `The presets could not be loaded: ${err.detail || err.message || err}`;
    },
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!ready) return;
    let overrides = {};
    if (extra.value.trim()) {
      try {
        overrides = JSON.parse(extra.value);
      } catch (err) {
        showError(`the overrides are not JSON: ${err.message}`);
        extra.focus();
        return;
      }
      if (!overrides || typeof overrides !== "object" || Array.isArray(overrides)) {
        showError("the overrides must be a JSON object, e.g. {\"epochs\": 5}");
        return;
      }
    }
    for (const [input, key] of [[epochs, "epochs"], [steps, "steps_per_epoch"], [batch, "batch_size"]]) {
      if (input.value !== "") overrides[key] = Number(input.value);
    }
    const body = { dataset: name };
    if (preset.value) body.preset = preset.value;
    if (Object.keys(overrides).length) body.config_overrides = overrides;
    sending = true;
    gate();
    try {
      const job = await api.post("/train", body);
      notify("Training queued");
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      showError(err, "Training refused");
    } finally {
      sending = false;
      gate();
    }
  });
  return {
    card: form,
    setDataset(dataset) {
      const t = dataset.training;
      ready = t.ready;
      why.textContent = ready ? "" : `Not ready to train: add ${t.missing.join(" and ")}.`;
      gate();
    },
  };
}
