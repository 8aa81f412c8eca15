import libsamplerate from '@alexanderolsen/libsamplerate-js';
import { StreamResampler } from '../../workers/tts/engine/resampler.js';
import { round, summary } from '../stats.js';

function ours(input: Float32Array, simd: boolean): number {
  const t0 = performance.now();
  const r = new StreamResampler(22_050, 48_000, undefined, { simd });
  for (let i = 0; i < input.length; i += 2205) r.push(input.subarray(i, i + 2205));
  r.finish();
  return performance.now() - t0;
}

/**
 * Our polyphase resampler (its SIMD kernel, and its JavaScript loop) against libsamplerate (wasm,
 * SINC_FASTEST) on 1 s of 22.05 kHz audio to 48 kHz, as one utterance needs it: a fresh converter
 * each time (filter state must not leak between utterances), fed in 100 ms pieces. The three
 * alternate within each trial.
 */
export async function resamplerSuite(opts: { trials: number }): Promise<Record<string, unknown>> {
  const input = new Float32Array(22_050);
  for (let i = 0; i < input.length; i += 1) input[i] = 0.5 * Math.sin((2 * Math.PI * 440 * i) / 22_050);
  const simd: number[] = [];
  const js: number[] = [];
  const lib: number[] = [];
  for (let t = 0; t < opts.trials; t += 1) {
    simd.push(ours(input, true));
    js.push(ours(input, false));

    const t0 = performance.now();
    const src = await libsamplerate.create(1, 22_050, 48_000, { converterType: libsamplerate.ConverterType.SRC_SINC_FASTEST });
    for (let i = 0; i < input.length; i += 2205) src.full(input.subarray(i, i + 2205));
    src.destroy();
    lib.push(performance.now() - t0);
  }
  const o = summary(simd);
  const j = summary(js);
  const l = summary(lib);
  return {
    suite: 'resampler',
    trials: opts.trials,
    ours_ms_per_s: o,
    ours_javascript_loop_ms_per_s: j,
    libsamplerate_ms_per_s: l,
    ratio_p50: round(o.p50 / l.p50, 3),
    simd_vs_javascript_p50: round(o.p50 / j.p50, 3),
  };
}
