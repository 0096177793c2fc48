// A live stream resampled block by block (a microphone's rate to 16 kHz), for a browser that will not open its
// audio context at 16 kHz: a windowed-sinc low-pass below the new Nyquist, then linear interpolation.

/** A Hann-windowed sinc low-pass of `length` taps (odd) at `cutoff` cycles per sample, summing to 1. */
function lowPass(cutoff, length) {
  const middle = (length - 1) / 2;
  const taps = new Float32Array(length);
  let sum = 0;
  for (let k = 0; k < length; k++) {
    const x = k - middle;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    taps[k] = sinc * (0.5 - 0.5 * Math.cos((2 * Math.PI * k) / (length - 1)));
    sum += taps[k];
  }
  return taps.map((t) => t / sum);
}

export class StreamResampler {
  constructor(from, to) {
    this.step = from / to;
    // Without the low-pass, everything between 8 kHz and the microphone's Nyquist would fold into the model's
    // bands. The cut sits a little under the new Nyquist; ten taps per step on each side make it steep enough.
    const half = Math.ceil(10 * Math.max(1, this.step));
    this.taps = lowPass(Math.min(0.5, 0.45 / this.step), 2 * half + 1);
    this.history = new Float32Array(this.taps.length);
    this.next = 0;
  }

  /** The resampled samples this block completes (none, some, or a few more than one block's worth). */
  push(block) {
    const n = this.taps.length;
    const input = new Float32Array(n + block.length);
    input.set(this.history);
    input.set(block, n);
    // The filtered stream at block sample i (-1: the block before's last), computed only where an output needs it.
    const filtered = (i) => {
      let sum = 0;
      for (let k = 0, end = n + i; k < n; k++) sum += this.taps[k] * input[end - k];
      return sum;
    };
    const out = [];
    // `next` is where the next output falls, in input samples from this block's start.
    let t = this.next;
    for (; t <= block.length - 1; t += this.step) {
      const i = Math.floor(t);
      const a = filtered(i);
      out.push(t > i ? a + (filtered(i + 1) - a) * (t - i) : a);
    }
    this.next = t - block.length;
    this.history = input.slice(input.length - n);
    return Float32Array.from(out);
  }
}
