import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { runReference } from '../reference/piper-reference.js';
import { BENCH_SENTENCES } from '../sentences.js';
import { processPeakRssMb, round, summary } from '../stats.js';
import { WORKER_NODE_ENV, WORKER_NODE_FLAGS } from '../worker-process.js';
import type { SynthesizeOptions } from '../../workers/tts/engine/engine.js';
import { pickRealVoice } from '../../workers/tts/voices/pick.js';
import { ensureServerBuild } from '../../scripts/compiled.mjs';

export interface EngineSuiteOptions {
  trials: number;
  voice?: string;
  /** Run the engine's process under tsx from the sources instead of compiled. */
  tsx?: boolean;
}

interface Timed {
  wallMs: number;
  audioMs: number;
  firstMs: number;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The engine in a process of its own, started as the worker service runs it (compiled, the
 * worker's Node flags and environment), so the peak RSS it reports is the engine's with one voice
 * loaded, not the bench harness's (tsx, the reference's driver, the statistics).
 */
class EngineProcess {
  private nextId = 1;
  private constructor(private readonly child: ChildProcess) {}

  static async start(voice: string, tsx: boolean): Promise<EngineProcess> {
    const [dir, ext, loader] = tsx ? [repoRoot, '.ts', ['--import', 'tsx']] : [ensureServerBuild({ quiet: true }), '.js', []];
    const child = fork(fileURLToPath(new URL('../engine-process.mjs', import.meta.url)), [dir, ext, voice], {
      execArgv: [...WORKER_NODE_FLAGS, ...loader],
      env: { ...process.env, ...WORKER_NODE_ENV },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = once(child, 'exit').then(([code]) => Promise.reject(new Error(`engine process exited (${String(code)})`)));
    const ready = new Promise<void>((resolve) => child.on('message', (m: { type?: string }) => m.type === 'ready' && resolve()));
    await Promise.race([ready, exited]);
    return new EngineProcess(child);
  }

  async time(texts: readonly string[], options: SynthesizeOptions | undefined): Promise<Timed[]> {
    const id = this.nextId++;
    const reply = new Promise<Timed[]>((resolve) => {
      const on = (m: { id?: number; timings?: Timed[] }) => {
        if (m.id !== id || !m.timings) return;
        this.child.off('message', on);
        resolve(m.timings);
      };
      this.child.on('message', on);
    });
    this.child.send({ id, texts, options });
    return reply;
  }

  peakRssMb(): number {
    return processPeakRssMb(this.child.pid!);
  }

  async stop(): Promise<void> {
    const gone = once(this.child, 'exit');
    this.child.send({ type: 'exit' });
    await gone;
  }
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
  engine: EngineProcess,
  model: string,
  trials: number,
  options: SynthesizeOptions | undefined,
  onTrial?: (t: Timed) => void,
): Promise<Totals> {
  const totals: Totals = { wallMs: 0, audioMs: 0, refComputeS: 0, refAudioS: 0, refPeakRssMb: 0 };
  for (let start = 0; start < trials; start += BENCH_SENTENCES.length) {
    const lines = BENCH_SENTENCES.slice(0, Math.min(BENCH_SENTENCES.length, trials - start));
    for (const t of await engine.time(lines, options)) {
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
  const engine = await EngineProcess.start(voice.id, opts.tsx ?? false);

  const fal: number[] = [];
  const streamed = await alternate(engine, voice.modelPath, opts.trials, undefined, (t) => fal.push(t.firstMs));
  // Read now: onnxruntime's arena keeps what the longer whole-sentence inputs below grow it to.
  const rssMb = engine.peakRssMb();
  // The same sentences whole (no streaming cut), as the reference synthesizes them: what the
  // engine costs against piper-tts for the same work, apart from what streaming adds.
  const whole = await alternate(engine, voice.modelPath, opts.trials, { chunking: { mode: 'sentence' } });
  await engine.stop();

  const rtf = streamed.wallMs / streamed.audioMs;
  const refRtf = streamed.refComputeS / streamed.refAudioS;
  const wholeRtf = whole.wallMs / whole.audioMs;
  const wholeRefRtf = whole.refComputeS / whole.refAudioS;
  return {
    suite: 'engine',
    voice: voice.id,
    trials: opts.trials,
    runtime: opts.tsx ? 'tsx' : 'compiled',
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
