import { StreamingVad, type VadEdge } from '../../actors/vad/detector.js';
import { concat, msToSamples, RATE, speechKit } from '../../tests/fixtures/vad-signals.js';
import { BENCH_SENTENCES } from '../sentences.js';
import { summary } from '../stats.js';

/**
 * VAD decision delay and cost: real speech (espeak-ng, 16 kHz via sox, trimmed at -40 dBFS so
 * the true onset and end are known) between digital silence, default debounce (100 ms / 300 ms).
 * The leading silence varies per trial by a non-multiple of the 32 ms window, so the onset falls
 * at every phase of the window grid.
 *
 * - `start_delay_ms`: first `speech_start.at` minus the true onset (stream time).
 * - `end_delay_ms`: last `speech_end.at` minus the true end of speech (stream time).
 * - `window_compute_ms`: wall time of one Silero call (512 samples), on the calling thread.
 * - `realtime_factor`: detection compute time / audio duration.
 * - `missed`: trials without a start or an end; `split_trials`: trials whose sentence pauses
 *   were long enough (>= 300 ms) to end and restart speech (delays still use first start and
 *   last end).
 */
export async function vadSuite(opts: { trials: number }): Promise<Record<string, unknown>> {
  const kit = speechKit();
  try {
    const sentences = BENCH_SENTENCES.map((text) => kit.speak(text));
    const startDelays: number[] = [];
    const endDelays: number[] = [];
    const compute: number[] = [];
    let missed = 0;
    let split = 0;
    let audioMs = 0;
    let computeMs = 0;
    await StreamingVad.create(); // load the shared session outside the timings
    for (let t = 0; t < opts.trials; t += 1) {
      const speech = sentences[t % sentences.length] as Int16Array;
      const leadMs = 500 + ((t * 7.3) % 64); // 7.3 ms steps: every onset phase within a window
      const signal = concat(msToSamples(leadMs), speech, msToSamples(1000));
      const onset = (msToSamples(leadMs) * 1000) / RATE;
      const end = onset + (speech.length * 1000) / RATE;
      const vad = await StreamingVad.create();
      vad.on('window', (w) => {
        compute.push(w.computeMs);
        computeMs += w.computeMs;
      });
      const edges: VadEdge[] = [];
      for (let i = 0; i < signal.length; i += 320) edges.push(...(await vad.push(signal.subarray(i, i + 320)))); // 20 ms frames
      await vad.close();
      audioMs += (signal.length * 1000) / RATE;
      const starts = edges.filter((e) => e.type === 'speech_start');
      const ends = edges.filter((e) => e.type === 'speech_end');
      if (starts.length === 0 || ends.length === 0) {
        missed += 1;
        continue;
      }
      if (starts.length > 1) split += 1;
      startDelays.push((starts[0] as VadEdge).at - onset);
      endDelays.push((ends[ends.length - 1] as VadEdge).at - end);
    }
    return {
      suite: 'vad',
      trials: opts.trials,
      model: 'silero_vad_v5.onnx (@ricky0123/vad-web)',
      start_delay_ms: summary(startDelays),
      end_delay_ms: summary(endDelays),
      window_compute_ms: summary(compute),
      realtime_factor: Math.round((computeMs / audioMs) * 10_000) / 10_000,
      windows: compute.length,
      missed,
      split_trials: split,
    };
  } finally {
    kit.dispose();
  }
}
