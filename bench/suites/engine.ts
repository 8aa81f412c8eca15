import { runReference } from '../reference/piper-reference.js';
import { BENCH_SENTENCES } from '../sentences.js';
import { peakRssMb, round, summary } from '../stats.js';
import { PiperEngine } from '../../workers/tts/engine/engine.js';
import { FRAME_MS } from '../../workers/tts/engine/audio-frame.js';
import { pickRealVoice } from '../../workers/tts/voices/pick.js';

export interface EngineSuiteOptions {
  trials: number;
  voice?: string;
}

/**
 * Engine suite: first-frame latency (text in -> first 20 ms frame ready) and RTF on the real
 * voice, with the Python reference piper-tts timed on the same sentences in the same run.
 */
export async function engineSuite(opts: EngineSuiteOptions): Promise<Record<string, unknown>> {
  const voice = pickRealVoice(opts.voice);
  const engine = await PiperEngine.load(voice);
  await engine.warmup();

  const fal: number[] = [];
  let wallMs = 0;
  let audioMs = 0;
  for (let i = 0; i < opts.trials; i += 1) {
    const text = BENCH_SENTENCES[i % BENCH_SENTENCES.length] as string;
    const t0 = performance.now();
    const stream = engine.synthesize(text);
    let first: number | undefined;
    let frames = 0;
    for await (const _frame of stream) {
      first ??= performance.now() - t0;
      frames += 1;
    }
    wallMs += performance.now() - t0;
    audioMs += frames * FRAME_MS;
    fal.push(first ?? Number.NaN);
  }
  // Peak RSS of the engine as it streams (the whole-sentence pass below runs longer inputs).
  const rssMb = peakRssMb();
  // The same sentences whole (no streaming cut), as the reference synthesizes them: what the
  // engine costs against piper-tts for the same work, apart from what streaming adds.
  let wholeWallMs = 0;
  let wholeAudioMs = 0;
  for (let i = 0; i < opts.trials; i += 1) {
    const t0 = performance.now();
    let frames = 0;
    for await (const _frame of engine.synthesize(BENCH_SENTENCES[i % BENCH_SENTENCES.length] as string, { chunking: { mode: 'sentence' } })) frames += 1;
    wholeWallMs += performance.now() - t0;
    wholeAudioMs += frames * FRAME_MS;
  }
  await engine.release();

  const runs = Math.max(1, Math.round(opts.trials / BENCH_SENTENCES.length));
  const ref = await runReference<{ compute_s: number; audio_s: number; peak_rss_mb: number }>({
    op: 'rtf',
    model: voice.modelPath,
    lines: BENCH_SENTENCES,
    runs,
  });
  const rtf = wallMs / audioMs;
  const refRtf = ref.compute_s / ref.audio_s;
  return {
    suite: 'engine',
    voice: voice.id,
    trials: opts.trials,
    fal_ms: summary(fal),
    rtf: round(rtf, 4),
    ref_rtf: round(refRtf, 4),
    rtf_ratio: round(rtf / refRtf, 3),
    rtf_sentence_mode: round(wholeWallMs / wholeAudioMs, 4),
    rtf_ratio_sentence_mode: round(wholeWallMs / wholeAudioMs / refRtf, 3),
    rss_mb: rssMb,
    ref_rss_mb: round(ref.peak_rss_mb, 1),
  };
}
