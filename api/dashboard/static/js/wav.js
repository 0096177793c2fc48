// Audio in the browser: resample to 16 kHz and encode 16-bit PCM mono WAV for upload; decode a sound file to
// 16 kHz mono samples for a model.

export const TARGET_RATE = 16000;

/** Resample mono float samples from `rate` to 16 kHz with the browser's own resampler. */
export async function resample(samples, rate, target = TARGET_RATE) {
  if (rate === target) return samples;
  const length = Math.max(1, Math.round((samples.length * target) / rate));
  const offline = new OfflineAudioContext(1, length, target);
  const buffer = offline.createBuffer(1, samples.length, rate);
  buffer.copyToChannel(samples, 0);
  const source = offline.createBufferSource();
  source.buffer = buffer;
  source.connect(offline.destination);
  source.start();
  const rendered = await offline.startRendering();
  return rendered.getChannelData(0).slice();
}

/** A sound file's bytes as 16 kHz mono float samples: the browser decodes and resamples, channels are averaged. */
export async function decodeMono(bytes, target = TARGET_RATE) {
  // An OfflineAudioContext at 16 kHz resamples as it decodes; averaging the channels is what `detect` does.
  const context = new OfflineAudioContext(1, 1, target);
  const buffer = await context.decodeAudioData(bytes);
  const mono = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const channel = buffer.getChannelData(c);
    for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / buffer.numberOfChannels;
  }
  return mono;
}

/** A RIFF/WAVE file of 16-bit PCM, one channel. */
export function encodeWav(samples, rate = TARGET_RATE) {
  const bytes = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(bytes);
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); // PCM
  view.setUint16(22, 1, true); // mono
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + i * 2, v < 0 ? v * 0x8000 : v * 0x7fff, true);
  }
  return new Blob([bytes], { type: "audio/wav" });
}
