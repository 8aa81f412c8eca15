import { PiperModel, type InferenceTuning } from '../../workers/tts/engine/piper-model.js';
import { phonemeIdsForText } from '../../workers/tts/engine/text-to-ids.js';
import { pickRealVoice } from '../../workers/tts/voices/pick.js';
import { BENCH_SENTENCES } from '../sentences.js';
import { round, summary } from '../stats.js';

const VARIANTS: { name: string; tuning: InferenceTuning }[] = [
  { name: 'threads1-all-arena', tuning: { intraOpThreads: 1, graphOptimization: 'all', memoryArena: true, memoryPattern: false, spinning: false } },
  { name: 'threads2-all-arena', tuning: { intraOpThreads: 2, graphOptimization: 'all', memoryArena: true, memoryPattern: false, spinning: false } },
  { name: 'threads2-all-arena-spin', tuning: { intraOpThreads: 2, graphOptimization: 'all', memoryArena: true, memoryPattern: false, spinning: true } },
  { name: 'threads2-basic-arena', tuning: { intraOpThreads: 2, graphOptimization: 'basic', memoryArena: true, memoryPattern: false, spinning: false } },
  { name: 'threads2-all-arena-mempattern', tuning: { intraOpThreads: 2, graphOptimization: 'all', memoryArena: true, memoryPattern: true, spinning: false } },
  { name: 'threads2-all-noarena', tuning: { intraOpThreads: 2, graphOptimization: 'all', memoryArena: false, memoryPattern: false, spinning: false } },
];

/** Session options compared on the same sentences in one run: short-chunk latency and RTF. */
export async function ortOptionsSuite(opts: { trials: number; voice?: string }): Promise<Record<string, unknown>> {
  const voice = pickRealVoice(opts.voice);
  const short = phonemeIdsForText('The quick brown fox', voice.config).sentences[0]?.ids ?? [];
  const long = BENCH_SENTENCES.map((s) => phonemeIdsForText(s, voice.config).sentences[0]?.ids ?? []);
  const results: Record<string, unknown> = {};
  const trials = Math.max(5, Math.round(opts.trials / 5));
  for (const v of VARIANTS) {
    const model = await PiperModel.load(voice.modelPath, voice.config, v.tuning);
    await model.infer(short);
    const shortMs: number[] = [];
    let compute = 0;
    let audio = 0;
    for (let i = 0; i < trials; i += 1) {
      let t0 = performance.now();
      await model.infer(short);
      shortMs.push(performance.now() - t0);
      t0 = performance.now();
      const out = await model.infer(long[i % long.length] as number[]);
      compute += performance.now() - t0;
      audio += (out.length / model.sampleRate) * 1000;
    }
    // Event-loop responsiveness during inference: how late a 1 ms timer fires while a run is busy.
    const lag: number[] = [];
    const probe = setInterval(() => {
      const now = performance.now();
      lag.push(now - last - 1);
      last = now;
    }, 1);
    let last = performance.now();
    for (let i = 0; i < 3; i += 1) await model.infer(long[i % long.length] as number[]);
    clearInterval(probe);
    await model.release();
    results[v.name] = { short_chunk_ms: summary(shortMs), rtf: round(compute / audio, 4), event_loop_lag_ms: summary(lag) };
  }
  return { suite: 'ort-options', voice: voice.id, trials, variants: results };
}
