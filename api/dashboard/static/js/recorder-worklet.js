// Audio worklet: hands each block of microphone samples (first channel) to the page, resampled to
// `processorOptions.rate` when the context runs at another rate.
import { StreamResampler } from "./resampler.js";

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const rate = options && options.processorOptions && options.processorOptions.rate;
    // `sampleRate` is the worklet scope's global: the context's rate.
    this.resampler = rate && rate !== sampleRate ? new StreamResampler(sampleRate, rate) : null;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel && channel.length) {
      const block = this.resampler ? this.resampler.push(channel) : channel.slice(0);
      if (block.length) this.port.postMessage(block, [block.buffer]);
    }
    return true;
  }
}
registerProcessor("capture", CaptureProcessor);
