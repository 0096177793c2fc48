// The microphone: open it once, record takes of a fixed length, give back 16 kHz WAV blobs; or hand every block
// to `onBlock` at the rate asked for (the live test of a model).

import { encodeWav, resample } from "./wav.js";

export class Microphone {
  /**
   * Ask for the microphone (the browser prompts once) and start listening; nothing is kept until `record`. With
   * `rate`, blocks come at that rate: the browser's own resampler where it opens a context at that rate.
   */
  static async open({ rate } = {}) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error("this browser gives no microphone access here (it needs https or localhost)");
    }
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    let context = new AudioContext(rate ? { sampleRate: rate } : {});
    let source;
    try {
      source = context.createMediaStreamSource(stream);
    } catch (err) {
      // Some browsers (Firefox) will not connect a microphone to a context at another rate: the worklet resamples.
      if (!rate) throw err;
      context.close();
      context = new AudioContext();
      source = context.createMediaStreamSource(stream);
    }
    await context.audioWorklet.addModule(new URL("./recorder-worklet.js", import.meta.url));
    return new Microphone(stream, context, source, rate || context.sampleRate);
  }

  constructor(stream, context, source, rate) {
    this.stream = stream;
    this.context = context;
    this.rate = rate;
    this.chunks = null;
    this.onLevel = null;
    this.onBlock = null;
    this.node = new AudioWorkletNode(context, "capture", { processorOptions: { rate } });
    this.node.port.onmessage = (event) => this.receive(event.data);
    // The worklet only runs while something pulls on it: a silent gain to the speakers does.
    const mute = context.createGain();
    mute.gain.value = 0;
    source.connect(this.node).connect(mute).connect(context.destination);
  }

  receive(block) {
    if (this.chunks) this.chunks.push(block);
    if (this.onBlock) this.onBlock(block);
    if (this.onLevel) {
      let sum = 0;
      for (const v of block) sum += v * v;
      this.onLevel(Math.sqrt(sum / block.length));
    }
  }

  /** Record `seconds` of audio; resolves to a 16 kHz mono PCM16 WAV blob. */
  async record(seconds, signal) {
    await this.context.resume();
    this.chunks = [];
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, seconds * 1000);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("recording stopped", "AbortError"));
      });
    }).finally(() => {
      this.taken = this.chunks;
      this.chunks = null;
    });
    const total = this.taken.reduce((n, c) => n + c.length, 0);
    const samples = new Float32Array(total);
    let offset = 0;
    for (const chunk of this.taken) {
      samples.set(chunk, offset);
      offset += chunk.length;
    }
    return encodeWav(await resample(samples, this.rate));
  }

  close() {
    this.stream.getTracks().forEach((track) => track.stop());
    this.context.close();
  }
}
