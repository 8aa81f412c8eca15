import { runReference } from '../reference/piper-reference.js';
import { BENCH_SENTENCES } from '../sentences.js';
import { peakRssMb, round, summary } from '../stats.js';
import { PiperEngine, type SynthesizeOptions } from '../../workers/tts/engine/engine.js';
import { FRAME_MS } from '../../workers/tts/engine/audio-frame.js';
import { pickRealVoice } from '../../workers/tts/voices/pick.js';

export interface EngineSuiteOptions {
  trials: number;
  voice?: string;
}

interface Timed {
  wallMs: number;
  audioMs: number;
  firstMs: number;
}

async function timed(engine: PiperEngine, text: string, options?: SynthesizeOptions): Promise<Timed> {
  const t0 = performance.now();
  let first: number | undefined;
  let frames = 0;
  for await (const _frame of engine.synthesize(text, options)) {
    first ??= performance.now() - t0;
    frames += 1;
  }
  return { wallMs: performance.now() - t0, audioMs: frames * FRAME_MS, firstMs: first ?? Number.NaN };
}

interface Totals {
  wallMs: number;
  audioMs: number;
  refComputeS: number;
  refAudioS: number;
  refPeakRssMb: number;
}

/** `trials` syntheses over the sentence set, each round of it followed by the reference's. */
async function alternate(
  engine: PiperEngine,
  model: string,
  trials: number,
  options: SynthesizeOptions | undefined,
  onTrial?: (t: Timed) => void,
): Promise<Totals> {
  const totals: Totals = { wallMs: 0, audioMs: 0, refComputeS: 0, refAudioS: 0, refPeakRssMb: 0 };
  for (let start = 0; start < trials; start += BENCH_SENTENCES.length) {
    const lines = BENCH_SENTENCES.slice(0, Math.min(BENCH_SENTENCES.length, trials - start));
    for (const text of lines) {
      const t = await timed(engine, text, options);
      onTrial?.(t);
      totals.wallMs += t.wallMs;
      totals.audioMs += t.audioMs;
    }
    const r = await runReference<{ compute_s: number; audio_s: number; peak_rss_mb: number }>({ op: 'rtf', model, lines, runs: 1 });
    totals.refComputeS += r.compute_s;
    totals.refAudioS += r.audio_s;
    totals.refPeakRssMb = Math.max(totals.refPeakRssMb, r.peak_rss_mb);
  }
  return totals;
}

/**
 * Engine suite: first-frame latency (text in -> first 20 ms frame ready) and RTF on the real
 * voice, with the Python reference piper-tts timed on the same sentences in the same run. The
 * two alternate in rounds of the sentence set, so a slow spell of the machine (this VM's CPU
 * time varies by tens of percent over minutes) weighs on both sides of the ratio alike.
 */
export async function engineSuite(opts: EngineSuiteOptions): Promise<Record<string, unknown>> {
  const voice = pickRealVoice(opts.voice);
  const engine = await PiperEngine.load(voice);
  await engine.warmup();

  const fal: number[] = [];
  const streamed = await alternate(engine, voice.modelPath, opts.trials, undefined, (t) => fal.push(t.firstMs));
  // Read now: onnxruntime's arena keeps what the longer whole-sentence inputs below grow it to.
  const rssMb = peakRssMb();
  // The same sentences whole (no streaming cut), as the reference synthesizes them: what the
  // engine costs against piper-tts for the same work, apart from what streaming adds.
  const whole = await alternate(engine, voice.modelPath, opts.trials, { chunking: { mode: 'sentence' } });
  await engine.release();

  const rtf = streamed.wallMs / streamed.audioMs;
  const refRtf = streamed.refComputeS / streamed.refAudioS;
  const wholeRtf = whole.wallMs / whole.audioMs;
  const wholeRefRtf = whole.refComputeS / whole.refAudioS;
  return {
    suite: 'engine',
    voice: voice.id,
    trials: opts.trials,
    fal_ms: summary(fal),
    rtf: round(rtf, 4),
    ref_rtf: round(refRtf, 4),
    rtf_ratio: round(rtf / refRtf, 3),
    rtf_sentence_mode: round(wholeRtf, 4),
    rtf_ratio_sentence_mode: round(wholeRtf / wholeRefRtf, 3),
    rss_mb: rssMb,
    ref_rss_mb: round(Math.max(streamed.refPeakRssMb, whole.refPeakRssMb), 1),
  };
}
