// A live stream resampled block by block (a microphone's rate to 16 kHz), for a browser that will not open its
// audio context at 16 kHz: a box low-pass as wide as the rate ratio, then linear interpolation.

export class StreamResampler {
  constructor(from, to) {
    this.step = from / to;
    // Without the low-pass, everything between 8 kHz and the microphone's Nyquist folds into the model's bands.
    this.taps = Math.max(1, Math.round(this.step));
    this.history = new Float32Array(this.taps - 1);
    this.previous = 0;
    this.next = 0;
  }

  /** The resampled samples this block completes (none, some, or a few more than one block's worth). */
  push(block) {
    const taps = this.taps;
    const input = new Float32Array(this.history.length + block.length);
    input.set(this.history);
    input.set(block, this.history.length);
    const filtered = new Float32Array(block.length);
    let sum = 0;
    for (let i = 0; i < input.length; i++) {
      sum += input[i];
      if (i >= taps) sum -= input[i - taps];
      if (i >= taps - 1) filtered[i - taps + 1] = sum / taps;
    }
    this.history = input.slice(input.length - (taps - 1));
    const out = [];
    const sample = (i) => (i < 0 ? this.previous : filtered[i]);
    // `next` is where the next output falls, in samples from this block's start (-1: the last of the one before).
    let t = this.next;
    for (; t <= filtered.length - 1; t += this.step) {
      const i = Math.floor(t);
      const frac = t - i;
      out.push(frac ? sample(i) + (sample(i + 1) - sample(i)) * frac : sample(i));
    }
    this.next = t - filtered.length;
    this.previous = filtered[filtered.length - 1];
    return Float32Array.from(out);
  }
}
