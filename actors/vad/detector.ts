/**
 * Streaming voice activity detection: 16 kHz mono s16le PCM in any frame size (SPEC §3) ->
 * debounced speech edges (SPEC §6: speech must last 100 ms to start, silence 300 ms to end).
 *
 * Input is cut into 512-sample windows (32 ms); each window's Silero probability drives a
 * two-threshold state machine:
 *
 * - silence -> speech: `minSpeechMs` of consecutive windows with p >= `positiveThreshold`. With
 *   32 ms windows the default 100 ms needs 4 windows (128 ms). `onsetAt` is the start of the
 *   first of them; `at` the end of the window that completed the run.
 * - speech -> silence: `minSilenceMs` of consecutive windows with p < `negativeThreshold`
 *   (default 300 ms -> 10 windows, 320 ms). A window at or above the negative threshold ends a
 *   silence run (hysteresis). `speechMs` runs from `onsetAt` to the start of the silence run.
 *
 * Times (`at`, `onsetAt`) are stream times: milliseconds of 16 kHz audio consumed, counted from
 * the first sample pushed. `decidedAt` is `performance.now()` when the edge was decided.
 *
 * Consumers: `on('speech_start' | 'speech_end' | 'edge' | 'window' | 'error', cb)` or
 * `for await (const edge of vad)`. `push` returns a promise of the edges that chunk decided;
 * pushes are processed strictly in order even when not awaited.
 */
import { StreamResampler } from '../../workers/tts/engine/resampler.js';
import { SILERO_SAMPLE_RATE, SileroVad, type SileroOptions, type VadModel } from './silero.js';

export interface VadOptions {
  /** Probability at or above which a window counts as speech (default 0.3). */
  positiveThreshold?: number;
  /** Probability below which a window counts as silence (default 0.25). */
  negativeThreshold?: number;
  /** Speech needed before a start is decided, ms (default 100). */
  minSpeechMs?: number;
  /** Silence needed before an end is decided, ms (default 300). */
  minSilenceMs?: number;
}

/**
 * Thresholds as @ricky0123/vad-web sets them for Silero v5 (0.3 / 0.25). Measured against the
 * v4-era 0.5 / 0.35 on 60 espeak sentences (`npm run bench -- --suite vad`): the start decision
 * comes ~9 ms earlier at p50 and ~14 ms at p95, ends are unchanged, and neither pair produced a
 * start on white or brown noise from -40 to -10 dBFS (max probability 0.06).
 */
export const DEFAULT_VAD_OPTIONS: Required<VadOptions> = {
  positiveThreshold: 0.3,
  negativeThreshold: 0.25,
  minSpeechMs: 100,
  minSilenceMs: 300,
};

export interface SpeechStartEdge {
  type: 'speech_start';
  /** Stream time of the decision (ms of audio consumed). */
  at: number;
  /** Stream time the speech began (start of the first positive window). */
  onsetAt: number;
  /** Wall clock of the decision, `performance.now()`. */
  decidedAt: number;
}

export interface SpeechEndEdge {
  type: 'speech_end';
  at: number;
  /** From onset to the start of the silence that ended it. */
  speechMs: number;
  decidedAt: number;
}

export type VadEdge = SpeechStartEdge | SpeechEndEdge;

/** Per-window diagnostics (probabilities, compute cost), for tests, benches and tuning. */
export interface VadWindow {
  index: number;
  /** Stream time at the end of the window. */
  at: number;
  probability: number;
  /** Wall time of the model call, ms. */
  computeMs: number;
}

interface VadEvents {
  speech_start: SpeechStartEdge;
  speech_end: SpeechEndEdge;
  edge: VadEdge;
  window: VadWindow;
  error: Error;
}

export type PcmInput = Buffer | Uint8Array | Int16Array;

export interface StreamingVadCreateOptions extends VadOptions, SileroOptions {
  /** Input sample rate (default 16000); other rates go through the project's StreamResampler. */
  sampleRate?: number;
  /** A model to use instead of loading Silero (tests, benches). */
  vadModel?: VadModel;
}

type Listener<K extends keyof VadEvents> = (event: VadEvents[K]) => void;

export class StreamingVad implements AsyncIterable<VadEdge> {
  readonly options: Required<VadOptions>;
  readonly windowSamples: number;
  private readonly windowMs: number;
  /** Sample rate of the PCM pushed in; anything but 16 kHz is resampled. */
  readonly inputRate: number;
  private resampler: StreamResampler | undefined;
  /** A stray byte of an odd-length byte chunk, completed by the next chunk. */
  private carry: number | null = null;
  /** Samples waiting for a full window. */
  private pending: Float32Array;
  private pendingLength = 0;
  private windowIndex = 0;
  private speaking = false;
  /** silence: stream time the current positive run began; speech: onset of the speech. */
  private runStart: number | null = null;
  private onsetAt = 0;
  /** speech: stream time the current silence run began. */
  private silenceStart: number | null = null;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly listeners = new Map<keyof VadEvents, Set<(event: never) => void>>();
  private readonly subscribers = new Set<{ queue: VadEdge[]; wake: (() => void) | null }>();

  constructor(
    private readonly model: VadModel,
    options: VadOptions & { sampleRate?: number } = {},
  ) {
    this.options = {
      positiveThreshold: options.positiveThreshold ?? DEFAULT_VAD_OPTIONS.positiveThreshold,
      negativeThreshold: options.negativeThreshold ?? DEFAULT_VAD_OPTIONS.negativeThreshold,
      minSpeechMs: options.minSpeechMs ?? DEFAULT_VAD_OPTIONS.minSpeechMs,
      minSilenceMs: options.minSilenceMs ?? DEFAULT_VAD_OPTIONS.minSilenceMs,
    };
    const o = this.options;
    if (!(o.negativeThreshold <= o.positiveThreshold)) {
      throw new RangeError('negativeThreshold must not exceed positiveThreshold');
    }
    this.inputRate = options.sampleRate ?? SILERO_SAMPLE_RATE;
    this.resampler = this.newResampler();
    this.windowSamples = model.windowSamples;
    this.windowMs = (this.windowSamples * 1000) / SILERO_SAMPLE_RATE;
    this.pending = new Float32Array(this.windowSamples);
  }

  /** Loads Silero (shared session, own state) and returns a detector for 16 kHz input. */
  static async create(opts: StreamingVadCreateOptions = {}): Promise<StreamingVad> {
    const model = opts.vadModel ?? (await SileroVad.load(opts));
    return new StreamingVad(model, opts);
  }

  /** A detector for mono s16le input at `sampleRate` (e.g. 48000 from WebRTC), resampled to 16 kHz. */
  static fromRate(sampleRate: number, opts: Omit<StreamingVadCreateOptions, 'sampleRate'> = {}): Promise<StreamingVad> {
    return StreamingVad.create({ ...opts, sampleRate });
  }

  /** Whether the detector is inside speech (after a start, before its end). */
  get inSpeech(): boolean {
    return this.speaking;
  }

  /** Stream time (ms of 16 kHz audio) consumed by the model so far. */
  get streamMs(): number {
    return this.windowIndex * this.windowMs;
  }

  on<K extends keyof VadEvents>(type: K, listener: Listener<K>): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener as (event: never) => void);
    return () => this.off(type, listener);
  }

  off<K extends keyof VadEvents>(type: K, listener: Listener<K>): void {
    this.listeners.get(type)?.delete(listener as (event: never) => void);
  }

  /**
   * Feeds PCM (mono s16le at the detector's input rate, any length, odd byte counts included).
   * The samples are copied before returning; the promise resolves with the edges they decided.
   */
  push(pcm: PcmInput): Promise<VadEdge[]> {
    if (this.closed) return Promise.reject(new Error('StreamingVad is closed'));
    let samples = this.decode(pcm);
    if (this.resampler) samples = this.resampler.push(samples);
    return this.enqueue(samples);
  }

  /** Feeds float samples in [-1, 1) at the input rate (copied). */
  pushFloat(samples: Float32Array): Promise<VadEdge[]> {
    if (this.closed) return Promise.reject(new Error('StreamingVad is closed'));
    return this.enqueue(this.resampler ? this.resampler.push(samples) : samples.slice());
  }

  /** Resolves when everything pushed so far has been processed. */
  async drain(): Promise<void> {
    await this.chain;
  }

  /**
   * Ends the stream: processes what is queued, drops a partial window, emits a `speech_end` if
   * speech is in progress (at the end of the stream), and ends every async iterator.
   */
  async close(): Promise<VadEdge[]> {
    if (this.closed) return [];
    this.closed = true;
    const result = this.chain.then(() => {
      const edges: VadEdge[] = [];
      if (this.speaking) {
        const end = this.silenceStart ?? this.streamMs;
        this.speaking = false;
        edges.push(this.emit({ type: 'speech_end', at: this.streamMs, speechMs: end - this.onsetAt, decidedAt: performance.now() }));
      }
      return edges;
    });
    this.chain = result.catch(() => undefined);
    try {
      return await result;
    } finally {
      for (const sub of this.subscribers) sub.wake?.();
    }
  }

  /**
   * Forgets all state (model included) and restarts stream time at 0, at this point of the
   * stream: audio pushed before is processed first, audio pushed after starts afresh. No edge is
   * emitted for speech in progress.
   */
  reset(): Promise<void> {
    this.resampler = this.newResampler();
    this.carry = null;
    const run = this.chain.then(() => this.resetDetection());
    this.chain = run.catch(() => undefined);
    return run;
  }

  private resetDetection(): void {
    this.model.reset();
    this.pendingLength = 0;
    this.windowIndex = 0;
    this.speaking = false;
    this.runStart = null;
    this.silenceStart = null;
  }

  [Symbol.asyncIterator](): AsyncIterator<VadEdge> {
    const sub: { queue: VadEdge[]; wake: (() => void) | null } = { queue: [], wake: null };
    this.subscribers.add(sub);
    const done = (): IteratorReturnResult<undefined> => {
      this.subscribers.delete(sub);
      return { done: true, value: undefined };
    };
    return {
      next: async () => {
        for (;;) {
          const edge = sub.queue.shift();
          if (edge) return { done: false, value: edge };
          if (this.closed && (await this.isSettled())) {
            const late = sub.queue.shift();
            return late ? { done: false, value: late } : done();
          }
          await new Promise<void>((resolve) => {
            sub.wake = resolve;
          });
          sub.wake = null;
        }
      },
      return: async () => done(),
    };
  }

  private async isSettled(): Promise<boolean> {
    await this.chain;
    return true;
  }

  private newResampler(): StreamResampler | undefined {
    return this.inputRate === SILERO_SAMPLE_RATE ? undefined : new StreamResampler(this.inputRate, SILERO_SAMPLE_RATE);
  }

  private decode(pcm: PcmInput): Float32Array {
    if (pcm instanceof Int16Array) {
      this.carry = null; // whole samples: a stray byte from an earlier byte chunk has no partner
      const out = new Float32Array(pcm.length);
      for (let i = 0; i < pcm.length; i += 1) out[i] = (pcm[i] as number) / 32768;
      return out;
    }
    const bytes = pcm;
    const lead = this.carry === null ? 0 : 1;
    const total = bytes.length + lead;
    const count = total >> 1;
    const out = new Float32Array(count);
    let i = 0;
    let b = 0;
    if (this.carry !== null && count > 0) {
      out[0] = toSigned(this.carry | ((bytes[0] as number) << 8)) / 32768;
      i = 1;
      b = 1;
    }
    for (; i < count; i += 1, b += 2) {
      out[i] = toSigned((bytes[b] as number) | ((bytes[b + 1] as number) << 8)) / 32768;
    }
    if (total % 2 === 1) this.carry = bytes[bytes.length - 1] as number;
    else this.carry = null;
    return out;
  }

  private enqueue(samples: Float32Array): Promise<VadEdge[]> {
    const run = this.chain.then(() => this.process(samples));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async process(samples: Float32Array): Promise<VadEdge[]> {
    const edges: VadEdge[] = [];
    const n = this.windowSamples;
    let offset = 0;
    try {
      while (offset < samples.length) {
        const take = Math.min(n - this.pendingLength, samples.length - offset);
        this.pending.set(samples.subarray(offset, offset + take), this.pendingLength);
        this.pendingLength += take;
        offset += take;
        if (this.pendingLength < n) break;
        this.pendingLength = 0;
        const t0 = performance.now();
        const p = await this.model.probability(this.pending);
        const computeMs = performance.now() - t0;
        const edge = this.step(p);
        this.fire('window', { index: this.windowIndex - 1, at: this.streamMs, probability: p, computeMs });
        if (edge) edges.push(this.emit(edge));
      }
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      this.fire('error', error);
      throw error;
    }
    return edges;
  }

  /** Advances stream time by one window with probability `p`; returns the edge it decides. */
  private step(p: number): VadEdge | null {
    const start = this.windowIndex * this.windowMs;
    this.windowIndex += 1;
    const at = this.windowIndex * this.windowMs;
    const o = this.options;
    if (!this.speaking) {
      if (p >= o.positiveThreshold) {
        this.runStart ??= start;
        if (at - this.runStart >= o.minSpeechMs) {
          this.speaking = true;
          this.onsetAt = this.runStart;
          this.runStart = null;
          this.silenceStart = null;
          return { type: 'speech_start', at, onsetAt: this.onsetAt, decidedAt: performance.now() };
        }
      } else {
        this.runStart = null;
      }
      return null;
    }
    if (p < o.negativeThreshold) {
      this.silenceStart ??= start;
      if (at - this.silenceStart >= o.minSilenceMs) {
        const speechMs = this.silenceStart - this.onsetAt;
        this.speaking = false;
        this.silenceStart = null;
        return { type: 'speech_end', at, speechMs, decidedAt: performance.now() };
      }
    } else {
      this.silenceStart = null;
    }
    return null;
  }

  private emit<E extends VadEdge>(edge: E): E {
    for (const sub of this.subscribers) {
      sub.queue.push(edge);
      sub.wake?.();
    }
    if (edge.type === 'speech_start') this.fire('speech_start', edge);
    else this.fire('speech_end', edge);
    this.fire('edge', edge);
    return edge;
  }

  private fire<K extends keyof VadEvents>(type: K, event: VadEvents[K]): void {
    const set = this.listeners.get(type);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        (listener as Listener<K>)(event);
      } catch (err) {
        // A throwing listener must not break detection or other listeners.
        if (type !== 'error') this.fire('error', err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

function toSigned(u16: number): number {
  return u16 >= 0x8000 ? u16 - 0x10000 : u16;
}
