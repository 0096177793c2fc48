// The detection rule of `wake-training detect` (worker/detect.py, worker/training/streaming.py), once for the
// browser: a window of the job's length every hop, a detection where a score reaches the threshold at least the
// refractory period after the last one, timed at the end of the window that fired. The panel's microphone and
// file modes both count with it, so what they show is what the command line and a device would report.

export const SAMPLE_RATE = 16000;
export const HOP_S = 0.1;
export const REFRACTORY_S = 1.0;
export const DEFAULT_WINDOW_S = 1.0;

/** The refractory period in hops: a score this many hops or more after the last detection may fire again. */
export function refractoryHops(hopS = HOP_S, refractoryS = REFRACTORY_S) {
  // The epsilon keeps 1.0 / 0.1 = 10.000000000000002 at 10 hops, as streaming.refractory_hops does.
  return Math.max(1, Math.ceil(refractoryS / hopS - 1e-9));
}

/** Feed it one score per hop, in order; it says which are detections. */
export class DetectionRule {
  constructor({ threshold, hopS = HOP_S, refractoryS = REFRACTORY_S }) {
    this.threshold = threshold;
    this.gap = refractoryHops(hopS, refractoryS);
    this.last = -Infinity;
  }

  /** Whether the score of window `index` is a detection (and, if so, remember it as the last one). */
  feed(index, score) {
    if (score >= this.threshold && index - this.last >= this.gap) {
      this.last = index;
      return true;
    }
    return false;
  }
}

/** The windows of the scores that are detections, at a threshold: streaming.count_detections. */
export function detectionIndices(scores, threshold, options = {}) {
  const rule = new DetectionRule({ threshold, ...options });
  const found = [];
  scores.forEach((score, index) => {
    if (rule.feed(index, score)) found.push(index);
  });
  return found;
}

/** How many windows a recording of `samples` gives: the last, zero-padded one included (streaming.window_count). */
export function windowCount(samples, window, hop) {
  if (samples <= 0) return 0;
  return 1 + Math.ceil(Math.max(0, samples - window) / hop);
}

/** Windows `first`… of a recording as one batch [count, window], zero-padded past its end. */
export function windowBatch(audio, first, count, window, hop) {
  const batch = new Float32Array(count * window);
  for (let i = 0; i < count; i++) {
    const start = (first + i) * hop;
    batch.set(audio.subarray(start, Math.min(start + window, audio.length)), i * window);
  }
  return batch;
}

/** When window `index` of a recording ends, in seconds; the last, padded one ends with the recording. */
export function fileWindowEnd(index, window, hop, samples) {
  return Math.min(index * hop + window, samples) / SAMPLE_RATE;
}

/** When the live window scored at hop `position` ends: the listener shifts in a hop of audio before each score. */
export function liveWindowEnd(position, hopS = HOP_S) {
  return (position + 1) * hopS;
}
