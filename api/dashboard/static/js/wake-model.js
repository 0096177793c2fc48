// A job's ONNX model run in the browser with onnxruntime-web's wasm build, which the dashboard serves itself
// (`make install` copies it from npm into static/vendor/ort/): scoring a whole recording, or a live stream a hop
// at a time.

import { api } from "./api.js";
import { DetectionRule, HOP_S, SAMPLE_RATE, liveWindowEnd, windowBatch, windowCount } from "./wake-rule.js";

const ORT_URL = new URL("../vendor/ort/ort.wasm.bundle.min.mjs", import.meta.url);
// Windows per run when scoring a file: a few MB of audio per call, and a progress update between calls.
const BATCH = 32;

let runtime = null;

/** onnxruntime-web, loaded on first use (its wasm file is 15 MB: a job page that never tests a model skips it). */
function onnxRuntime() {
  runtime ||= import(ORT_URL.href).then(
    (ort) => {
      // Threads need a cross-origin isolated page (COOP/COEP headers), which the dashboard is not; one thread
      // scores a second of audio in milliseconds.
      ort.env.wasm.numThreads = 1;
      return ort;
    },
    (err) => {
      runtime = null;
      throw new Error(`onnxruntime-web is not installed on this server (run make install there): ${err.message}`);
    },
  );
  return runtime;
}

export class WakeModel {
  /** The model at an artifact URL of the API, ready to score. */
  static async load(path) {
    const [ort, bytes] = await Promise.all([onnxRuntime(), api.bytes(path)]);
    const session = await ort.InferenceSession.create(new Uint8Array(bytes), { executionProviders: ["wasm"] });
    return new WakeModel(ort, session);
  }

  constructor(ort, session) {
    this.ort = ort;
    this.session = session;
    const inputs = session.inputMetadata || [];
    this.input = (inputs.find((i) => i.name === "audio") || inputs[0] || { name: session.inputNames[0] }).name;
    this.output = session.outputNames[0];
    const meta = inputs.find((i) => i.name === this.input);
    const samples = meta && meta.shape ? meta.shape[1] : undefined;
    /** The window length the graph is fixed to, if it is: the detect command's first source for it. */
    this.fixedWindow = Number.isInteger(samples) && samples > 0 ? samples : null;
    this.queue = Promise.resolve();
  }

  /** The wake probability of each of `count` windows laid end to end in `batch`. */
  score(batch, count, window) {
    // One run at a time: a session is not re-entrant, and the microphone and a file may both ask.
    const run = this.queue.then(async () => {
      const tensor = new this.ort.Tensor("float32", batch, [count, window]);
      const out = await this.session.run({ [this.input]: tensor });
      return Float32Array.from(out[this.output].data);
    });
    this.queue = run.catch(() => {});
    return run;
  }

  /** One score per hop over a 16 kHz recording, as `wake-training detect` slides its windows. */
  async scoreRecording(audio, window, hop, onProgress = () => {}) {
    const total = windowCount(audio.length, window, hop);
    const scores = new Float32Array(total);
    for (let first = 0; first < total; first += BATCH) {
      const count = Math.min(BATCH, total - first);
      scores.set(await this.score(windowBatch(audio, first, count, window, hop), count, window), first);
      onProgress((first + count) / total);
    }
    return scores;
  }

  release() {
    this.session.release();
  }
}

/**
 * Scores a live 16 kHz stream as the detect command's --mic does: a window of the last `window` samples (silence
 * before the first) every hop, each score handed to `onScore({ position, time, score, detected })`.
 */
export class LiveScorer {
  constructor(model, { window, threshold, onScore, hopS = HOP_S }) {
    this.model = model;
    this.window = window;
    this.hop = Math.round(hopS * SAMPLE_RATE);
    this.hopS = hopS;
    this.rule = new DetectionRule({ threshold, hopS });
    this.onScore = onScore;
    this.buffer = new Float32Array(window);
    this.pending = [];
    this.pendingLength = 0;
    this.position = 0;
    this.busy = false;
    this.stopped = false;
  }

  set threshold(value) {
    this.rule.threshold = value;
  }

  /** Seconds of audio scored so far. */
  get heard() {
    return this.position * this.hopS;
  }

  /** Seconds of audio waiting to be scored: more than a hop or two means this device scores slower than real time. */
  get behind() {
    return this.pendingLength / SAMPLE_RATE;
  }

  push(block) {
    this.pending.push(block);
    this.pendingLength += block.length;
    this.pump();
  }

  stop() {
    this.stopped = true;
  }

  async pump() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (!this.stopped && this.pendingLength >= this.hop) {
        this.shiftIn(this.take(this.hop));
        const [score] = await this.model.score(this.buffer.slice(), 1, this.window);
        if (this.stopped) return;
        const position = this.position++;
        const detected = this.rule.feed(position, score);
        this.onScore({ position, time: liveWindowEnd(position, this.hopS), score, detected });
      }
    } finally {
      this.busy = false;
    }
  }

  take(n) {
    const out = new Float32Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.pending[0];
      const used = Math.min(head.length, n - filled);
      out.set(head.subarray(0, used), filled);
      filled += used;
      if (used === head.length) this.pending.shift();
      else this.pending[0] = head.subarray(used);
    }
    this.pendingLength -= n;
    return out;
  }

  shiftIn(hop) {
    if (hop.length >= this.window) {
      this.buffer.set(hop.subarray(hop.length - this.window));
      return;
    }
    this.buffer.copyWithin(0, hop.length);
    this.buffer.set(hop, this.window - hop.length);
  }
}
