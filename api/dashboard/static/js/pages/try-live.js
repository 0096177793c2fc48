// "Test in the browser", on a succeeded training job's page: its model.onnx run right here (onnxruntime-web), live
// on the microphone or over a sound file, counting detections by the detect command's rule (wake-rule.js) at a
// threshold that starts at the job's calibrated one.

import { h, fill, fmtNum } from "../dom.js";
import { lineChart } from "../charts.js";
import { Microphone } from "../recorder.js";
import { decodeMono } from "../wav.js";
import { LiveScorer, WakeModel } from "../wake-model.js";
import { DEFAULT_WINDOW_S, HOP_S, REFRACTORY_S, SAMPLE_RATE, detectionIndices, fileWindowEnd } from "../wake-rule.js";

const LIVE_SPAN_S = 10;
// Longer files are the detect command's job: the browser holds the whole file and every score in memory.
const MAX_FILE_S = 600;
const THRESHOLD_STYLE = { name: "threshold", color: "#b91c1c", dash: "6 4", dots: false };

const fmtTime = (s) => `${s.toFixed(2)} s`;

/** `{ element, close }` for the card (close stops the microphone when the page goes), or null without model.onnx. */
export function tryLiveCard(job, calibrated) {
  const artifact = (job.artifacts || []).find((a) => a.name === "model.onnx");
  if (!artifact) return null;
  // The job's config is what its export's config.json holds: the detect command's window when the graph has none.
  const configured = Number(job.config && job.config.window_s);
  const state = {
    threshold: Number.isFinite(calibrated) ? calibrated : 0.5,
    window: Math.round((configured > 0 ? configured : DEFAULT_WINDOW_S) * SAMPLE_RATE),
    model: null,
    live: null,
    stopped: null,
    file: null,
    fileRun: 0,
    closed: false,
  };

  const slider = h("input", { type: "range", id: "try-threshold", min: 0, max: 1, step: 0.001, value: state.threshold });
  const shown = h("output", { for: "try-threshold", class: "threshold-value" }, fmtNum(state.threshold, 3));
  const reset = h("button", { type: "button", class: "small", hidden: true }, "Back to the calibrated threshold");
  const rule = h("p", { class: "muted try-rule" });
  const listen = h("button", { type: "button", class: "primary" }, "Start listening");
  const liveStatus = h("p", { class: "try-status", "data-mode": "mic", role: "status" }, "Say the phrase a few times, then some other things.");
  const meterFill = h("div", { class: "score-fill" });
  const meterMark = h("div", { class: "score-mark" });
  const meter = h("div", { class: "score-meter", role: "meter", "aria-label": "Score now", "aria-valuemin": 0, "aria-valuemax": 1, "aria-valuenow": 0 }, meterFill, meterMark);
  const meterValue = h("span", { class: "score-value" });
  const liveChart = h("div", { class: "chart-box", "data-chart": "live", hidden: true });
  const liveFound = h("div", { class: "detections", "data-mode": "mic", hidden: true });
  const fileInput = h("input", { type: "file", id: "try-file", accept: "audio/*,.wav,.flac,.ogg,.mp3" });
  const fileStatus = h("p", { class: "try-status", "data-mode": "file", role: "status" }, "Pick a recording: it stays in this browser.");
  const fileChart = h("div", { class: "chart-box", "data-chart": "file" });
  const fileFound = h("div", { class: "detections", "data-mode": "file" });

  const card = h("section", { class: "card try-live", "aria-labelledby": "try-title" },
    h("h2", { id: "try-title" }, "Test in the browser"),
    h("p", { class: "muted" }, "This job's model.onnx runs here in your browser: nothing you say or pick is uploaded."),
    h("div", { class: "threshold-row" },
      h("label", { for: "try-threshold" }, "Threshold"), slider, shown, reset),
    h("p", { class: "muted threshold-note" }, Number.isFinite(calibrated)
      ? `The job calibrated ${fmtNum(calibrated, 3)}; a higher threshold wakes less often and misses more.`
      : "The job reported no calibrated threshold: 0.5, as the detect command uses then."),
    rule,
    h("div", { class: "grid try-modes" },
      h("div", { class: "try-mode" }, h("h3", {}, "Microphone"), h("div", { class: "row tight" }, listen), liveStatus,
        h("div", { class: "score-row" }, h("span", { class: "muted" }, "Score now"), meter, meterValue), liveChart, liveFound),
      h("div", { class: "try-mode" }, h("h3", {}, h("label", { for: "try-file" }, "A sound file")), fileInput, fileStatus, fileChart, fileFound),
    ),
  );
  showRule();
  showMeter(0);
  drawLive();
  drawFile();

  slider.addEventListener("input", () => {
    setThreshold(Number(slider.value));
  });
  reset.addEventListener("click", () => {
    setThreshold(calibrated);
    slider.value = String(calibrated);
  });
  listen.addEventListener("click", () => (state.live ? stopListening() : startListening()));
  fileInput.addEventListener("change", () => {
    if (fileInput.files[0]) scoreFile(fileInput.files[0]);
  });

  function setThreshold(value) {
    state.threshold = value;
    shown.textContent = fmtNum(value, 3);
    reset.hidden = !Number.isFinite(calibrated) || value === calibrated;
    if (state.live) state.live.scorer.threshold = value;
    showMeter(state.live ? state.live.last : 0);
    drawLive();
    if (state.file) drawFile();
  }

  function showRule() {
    fill(rule, "Counted as ", h("code", {}, "wake-training detect"), ` counts: a ${fmtNum(state.window / SAMPLE_RATE, 3)} s window every ` +
      `${HOP_S} s, a detection where the score reaches the threshold at least ${REFRACTORY_S} s after the last one, timed at the window's end.`);
  }

  async function model() {
    if (!state.model) {
      state.model = WakeModel.load(artifact.url).then((loaded) => {
        if (loaded.fixedWindow) state.window = loaded.fixedWindow;
        showRule();
        return loaded;
      });
      state.model.catch(() => {
        state.model = null;
      });
    }
    return state.model;
  }

  function say(element, text, kind = "") {
    element.textContent = text;
    element.className = `try-status ${kind}`.trim();
  }

  async function startListening() {
    listen.disabled = true;
    say(liveStatus, "Loading the model…");
    let microphone = null;
    try {
      const loaded = await model();
      microphone = await Microphone.open({ rate: SAMPLE_RATE });
      if (state.closed) throw new Error("the page was left");
      const live = { microphone, scores: [], found: [], last: 0 };
      live.scorer = new LiveScorer(loaded, {
        window: state.window,
        threshold: state.threshold,
        onScore: ({ time, score, detected }) => onLiveScore(live, time, score, detected),
      });
      microphone.onBlock = (block) => live.scorer.push(block);
      await microphone.context.resume();
      state.live = live;
      liveChart.hidden = false;
      liveFound.hidden = false;
      listen.textContent = "Stop listening";
      say(liveStatus, "Listening…", "live");
      drawLive();
    } catch (err) {
      if (microphone) microphone.close();
      say(liveStatus, `Could not listen: ${err.detail || err.message || err}`, "error");
    } finally {
      listen.disabled = false;
    }
  }

  function stopListening() {
    const live = state.live;
    if (!live) return;
    live.scorer.stop();
    live.microphone.close();
    state.live = null;
    state.stopped = live;
    listen.textContent = "Start listening";
    say(liveStatus, `Stopped after ${fmtNum(live.scorer.heard, 3)} s.`);
    liveStatus.dataset.heard = String(live.scorer.heard);
    showMeter(0);
    drawLive();
  }

  function onLiveScore(live, time, score, detected) {
    live.last = score;
    live.scores.push([time, score]);
    if (live.scores.length > (LIVE_SPAN_S / HOP_S) * 2) live.scores.splice(0, live.scores.length - LIVE_SPAN_S / HOP_S);
    if (detected) live.found.push({ time, score });
    // The test and the curious read how far the live stream has got; the text says it for everyone else.
    liveStatus.dataset.heard = String(time);
    const behind = live.scorer.behind;
    liveStatus.textContent = `Listening: ${time.toFixed(1)} s heard` + (behind > 0.5 ? ` (scoring ${behind.toFixed(1)} s behind)` : "");
    showMeter(score);
    drawLive();
  }

  function showMeter(score) {
    meterFill.style.width = `${Math.round(score * 100)}%`;
    meterFill.classList.toggle("over", score >= state.threshold);
    meterMark.style.left = `${state.threshold * 100}%`;
    meterValue.textContent = score.toFixed(2);
    meter.setAttribute("aria-valuenow", String(score));
    meter.setAttribute("aria-valuetext", `score ${fmtNum(score, 3)}, threshold ${fmtNum(state.threshold, 3)}`);
  }

  function drawLive() {
    // After a stop the last session stays on show: its chart and what it detected.
    const live = state.live || state.stopped;
    if (!live) return;
    const end = live.scores.length ? live.scores.at(-1)[0] : 0;
    const points = live.scores.filter(([t]) => t > end - LIVE_SPAN_S);
    const found = live.found.filter((d) => points.length && d.time >= points[0][0]);
    fill(liveChart, scoreChart(`Score, last ${LIVE_SPAN_S} s`, points, found));
    fill(liveFound, detectionList(live.found, state.live ? "No detection yet." : "No detection."));
  }

  async function scoreFile(file) {
    const run = ++state.fileRun;
    state.file = null;
    drawFile();
    say(fileStatus, `Reading ${file.name}…`);
    try {
      const audio = await decodeMono(await file.arrayBuffer());
      if (audio.length / SAMPLE_RATE > MAX_FILE_S) {
        throw new Error(`it is ${Math.round(audio.length / SAMPLE_RATE)} s long; here up to ${MAX_FILE_S} s (run wake-training detect on longer files)`);
      }
      say(fileStatus, `Loading the model…`);
      const loaded = await model();
      const hop = Math.round(HOP_S * SAMPLE_RATE);
      const window = state.window;
      const scores = await loaded.scoreRecording(audio, window, hop, (done) => {
        if (run === state.fileRun) say(fileStatus, `Scoring ${file.name}: ${Math.round(done * 100)}%`);
      });
      if (run !== state.fileRun) return;
      state.file = { name: file.name, scores, seconds: audio.length / SAMPLE_RATE, end: (i) => fileWindowEnd(i, window, hop, audio.length) };
      drawFile();
    } catch (err) {
      if (run === state.fileRun) say(fileStatus, `Could not test ${file.name}: ${err.detail || err.message || err}`, "error");
    }
  }

  function drawFile() {
    const file = state.file;
    if (!file) {
      fill(fileChart);
      fill(fileFound);
      return;
    }
    const found = detectionIndices(file.scores, state.threshold).map((i) => ({ time: file.end(i), score: file.scores[i] }));
    const points = Array.from(file.scores, (score, i) => [file.end(i), score]);
    const count = found.length === 1 ? "1 detection" : `${found.length} detections`;
    say(fileStatus, `${file.name}: ${fmtNum(file.seconds, 3)} s, ${count} at threshold ${fmtNum(state.threshold, 3)}.`);
    fill(fileChart, scoreChart("Score over the file", points, found));
    fill(fileFound, detectionList(found, "No detection in this file."));
  }

  function scoreChart(title, points, found) {
    const xs = points.map(([t]) => t);
    const line = xs.length ? [[Math.min(...xs), state.threshold], [Math.max(...xs), state.threshold]] : [];
    return lineChart({
      title,
      series: [{ name: "score", points, dots: false }, { ...THRESHOLD_STYLE, points: line }],
      xLabel: "seconds (window end)",
      yLabel: "wake probability",
      yMin: 0,
      yMax: 1,
      // Labels only while they fit; the list below the chart has every time.
      markers: found.map((d) => ({ x: d.time, y: d.score, label: found.length <= 6 ? fmtTime(d.time) : "" })),
    });
  }

  return {
    element: card,
    close() {
      if (state.closed) return;
      state.closed = true;
      stopListening();
      state.fileRun++;
      if (state.model) state.model.then((loaded) => loaded.release(), () => {});
    },
  };
}

function detectionList(found, empty) {
  const count = found.length === 1 ? "1 detection" : `${found.length} detections`;
  return [
    h("p", { class: "detection-count", "data-count": found.length }, found.length ? count : empty),
    found.length
      ? h("ol", { class: "detection-times" }, found.map((d) => h("li", { "data-time": d.time.toFixed(2), "data-score": d.score.toFixed(3) }, `${fmtTime(d.time)}, score ${fmtNum(d.score, 3)}`)))
      : null,
  ];
}
