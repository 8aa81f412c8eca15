import { Worker } from 'node:worker_threads';
import type { PiperConfig } from '../voices/voicepack.js';

export interface InferenceTuning {
  /** Threads inside one inference (ORT intra-op). */
  intraOpThreads: number;
  graphOptimization: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT's CPU arena reuses buffers between runs. */
  memoryArena: boolean;
  /**
   * ORT's memory-pattern planner: one pre-planned block per input shape. Piper inputs vary in
   * length every call, so the plans only pile up; off measured the same speed and ~45 MB less
   * peak RSS over 50 synthesized sentences (README, "Choices, measured").
   */
  memoryPattern: boolean;
  /** Let ORT's threads busy-wait between parallel sections instead of sleeping. */
  spinning: boolean;
}

/**
 * Defaults chosen by `npm run bench -- --suite ort-options` on the 2-core reference machine
 * (figures in the README): two intra-op threads beat one; all graph optimisations beat basic;
 * the arena is faster and, with glibc's allocator, lower in RSS than without it. Spinning (also
 * onnxruntime's default, and the reference's): on a quiet host no faster, but when the VM's
 * host takes CPU time (steal) a sleeping thread is slow to wake for each of a run's many
 * parallel sections; measured then, spinning ran 17% faster (5 of 5 alternating pairs) with no
 * worse control ack, first frame or concurrency in the worker bench. The threads run at a lower
 * priority than the event loop (inference-thread.js), so a PAUSE still gets the CPU first.
 */
export const DEFAULT_TUNING: InferenceTuning = {
  intraOpThreads: 2,
  graphOptimization: 'all',
  memoryArena: true,
  memoryPattern: false,
  spinning: true,
};

export interface InferenceParams {
  noiseScale?: number;
  lengthScale?: number;
  noiseW?: number;
  speakerId?: number;
  /** Lower runs first when several wait (a deadline in performance.now() milliseconds). */
  priority?: number;
  /** Aborting takes a waiting inference out of the queue (one already running completes). */
  signal?: AbortSignal;
  /** Deliver the chunk shaped for a stream (resampled, trimmed) instead of at the voice's rate. */
  output?: ChunkOutput;
  /**
   * The ids are part of a sentence that goes on before (`previous`) or after (`next`) them, as a
   * streamed chunk is: the model's sentence onset or close there is cut to a word boundary's
   * length (`JOIN_EDGE_FRAMES`), when the model can (`capsEdges`).
   */
  joins?: { previous: boolean; next: boolean };
}

/**
 * Most frames the ids at a join may take, at length scale 1: `^`, `_` where a chunk continues a
 * sentence and `_`, `$` where the sentence continues after it. Left alone, the model spends a
 * sentence's onset and close there (en_US-joe-medium, bench sentences, noise off: `$` 4-12
 * frames, `^` up to 32), leaving 105-585 ms of silence mid-phrase at each join; with these caps
 * 35-95 ms at word boundaries and a comma's own pause at clause boundaries. Tighter caps (0 for
 * `^` and `$`) close the gaps further but cut the audio at the join while it still sounds
 * (edge peaks up to -25 dBFS: a click); with these the edges stay as quiet as Piper's own
 * (median -79, max -38 dBFS against -88 / -39 uncapped).
 */
export const JOIN_EDGE_FRAMES = { onset: [1, 2], close: [2, 1] } as const;

/** The `edge_frames` caps for a chunk with these joins, scaled as the model scales durations. */
export function joinEdgeFrames(joins: { previous: boolean; next: boolean }, lengthScale: number): [number, number, number, number] {
  const cap = (frames: number) => Math.max(1, Math.ceil(frames * lengthScale));
  const onset = joins.previous ? JOIN_EDGE_FRAMES.onset.map(cap) : [Infinity, Infinity];
  const close = joins.next ? JOIN_EDGE_FRAMES.close.map(cap) : [Infinity, Infinity];
  return [...onset, ...close] as [number, number, number, number];
}

/**
 * How one chunk of a stream comes back from the inference thread, which keeps each stream's
 * resampler state between its chunks. A stream's chunks must be submitted in order.
 */
export interface ChunkOutput {
  /** From `PiperModel.openStream()`. */
  stream: number;
  /** Output sample rate. */
  rate: number;
  /** The stream's first chunk: fresh resampler state; leading silence trimmed if `trimDb` is set. */
  first: boolean;
  /** The stream's last chunk: the resampler's tail is flushed and its state dropped. */
  last: boolean;
  trimDb?: number;
}

/** One inference's audio and the model time it took (thread run time, no queueing). */
export interface TimedInference {
  audio: Float32Array;
  ms: number;
  /** Samples the model produced, at the voice's rate (before any shaping). */
  modelSamples: number;
}

interface Job {
  id: number;
  ids: readonly number[];
  scales: [number, number, number];
  sid: number | undefined;
  output: ChunkOutput | undefined;
  edgeFrames: [number, number, number, number] | undefined;
  priority: number;
  seq: number;
  resolve: (result: TimedInference) => void;
  reject: (err: Error) => void;
}

type ThreadMessage =
  | { type: 'ready'; capsEdges: boolean }
  | { type: 'released' }
  | { type: 'result'; id: number; audio: Float32Array; ms: number; modelSamples: number }
  | { type: 'error'; id: number; message: string };

const THREAD_URL = new URL('./inference-thread.js', import.meta.url);

/**
 * A Piper VITS model in onnxruntime-node on its own thread: phoneme ids in, float audio at the
 * voice's rate out. Runs one inference at a time (ORT parallelises inside a run); waiting runs
 * are ordered by priority (deadline first).
 */
export class PiperModel {
  private readonly waiting: Job[] = [];
  private running: Job | undefined;
  private nextId = 1;
  private nextStream = 1;
  private released = false;
  private failure: Error | undefined;

  private constructor(
    private readonly thread: Worker,
    readonly config: PiperConfig,
    readonly sampleRate: number,
    /** The onnxruntime settings the session was created with. */
    readonly tuning: InferenceTuning,
    /** The model takes `edge_frames` (a prepared model), so `joins` take effect. */
    readonly capsEdges: boolean,
  ) {
    thread.on('message', (msg: ThreadMessage) => this.onMessage(msg));
    thread.on('error', (err) => this.fail(err));
    thread.on('exit', (code) => {
      if (!this.released) this.fail(new Error(`inference thread exited (code ${code})`));
    });
  }

  static async load(model: string | Uint8Array, config: PiperConfig, tuning: Partial<InferenceTuning> = {}): Promise<PiperModel> {
    const t = { ...DEFAULT_TUNING, ...tuning };
    const options = {
      executionProviders: ['cpu'],
      intraOpNumThreads: t.intraOpThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: t.graphOptimization,
      executionMode: 'sequential',
      enableCpuMemArena: t.memoryArena,
      enableMemPattern: t.memoryPattern,
      extra: { session: { 'intra_op.allow_spinning': t.spinning ? '1' : '0' } },
    };
    // The thread is plain JavaScript: without the parent's flags it skips loaders such as tsx,
    // whose module hooks cost ~9 MB of RSS per thread (measured under `npm run worker`).
    const thread = new Worker(THREAD_URL, { execArgv: [], workerData: { model, options, sampleRate: config.audio.sample_rate } });
    const capsEdges = await new Promise<boolean>((resolve, reject) => {
      const onMessage = (msg: ThreadMessage) => {
        if (msg.type !== 'ready') return;
        cleanup();
        resolve(msg.capsEdges);
      };
      const onError = (err: Error) => {
        cleanup();
        reject(new Error(`loading the model failed: ${err.message}`));
      };
      const onExit = (code: number) => {
        cleanup();
        reject(new Error(`inference thread exited while loading (code ${code})`));
      };
      const cleanup = () => {
        thread.off('message', onMessage);
        thread.off('error', onError);
        thread.off('exit', onExit);
      };
      thread.on('message', onMessage);
      thread.on('error', onError);
      thread.on('exit', onExit);
    });
    return new PiperModel(thread, config, config.audio.sample_rate, t, capsEdges);
  }

  get numSpeakers(): number {
    return this.config.num_speakers;
  }

  /** Resolves a speaker by id or by name from the voice's `speaker_id_map`. */
  speakerId(speaker: string | number | undefined): number | undefined {
    if (this.numSpeakers <= 1) return undefined;
    if (speaker === undefined) return 0;
    const id = typeof speaker === 'number' ? speaker : this.config.speaker_id_map[speaker];
    if (id === undefined || !Number.isInteger(id) || id < 0 || id >= this.numSpeakers) {
      throw new RangeError(`unknown speaker ${JSON.stringify(speaker)} (voice has ${this.numSpeakers})`);
    }
    return id;
  }

  /** Inferences waiting or running; a measure of this model's load. */
  get pending(): number {
    return this.waiting.length + (this.running ? 1 : 0);
  }

  infer(ids: readonly number[], params: InferenceParams = {}): Promise<Float32Array> {
    return this.inferTimed(ids, params).then((r) => r.audio);
  }

  inferTimed(ids: readonly number[], params: InferenceParams = {}): Promise<TimedInference> {
    if (this.released) return Promise.reject(new Error('model released'));
    if (this.failure) return Promise.reject(this.failure);
    if (params.signal?.aborted) return Promise.reject(new Error('inference cancelled'));
    const inference = this.config.inference;
    return new Promise((resolve, reject) => {
      const id = this.nextId;
      params.signal?.addEventListener(
        'abort',
        () => {
          const at = this.waiting.findIndex((j) => j.id === id);
          if (at < 0) return; // running or done
          this.waiting.splice(at, 1);
          reject(new Error('inference cancelled'));
        },
        { once: true },
      );
      const lengthScale = params.lengthScale ?? inference.length_scale;
      this.waiting.push({
        id: this.nextId,
        ids,
        scales: [params.noiseScale ?? inference.noise_scale, lengthScale, params.noiseW ?? inference.noise_w],
        sid: this.numSpeakers > 1 ? (params.speakerId ?? 0) : undefined,
        output: params.output,
        edgeFrames: params.joins && this.capsEdges ? joinEdgeFrames(params.joins, lengthScale) : undefined,
        priority: params.priority ?? performance.now(),
        seq: this.nextId,
        resolve,
        reject,
      });
      this.nextId += 1;
      this.pump();
    });
  }

  private pump(): void {
    if (this.running || this.waiting.length === 0) return;
    this.waiting.sort((a, b) => a.priority - b.priority || a.seq - b.seq);
    const job = this.waiting.shift() as Job;
    this.running = job;
    this.thread.postMessage({ type: 'run', id: job.id, ids: [...job.ids], scales: job.scales, sid: job.sid, output: job.output, edgeFrames: job.edgeFrames });
  }

  private onMessage(msg: ThreadMessage): void {
    if (msg.type !== 'result' && msg.type !== 'error') return;
    const job = this.running;
    if (!job || job.id !== msg.id) return;
    this.running = undefined;
    if (msg.type === 'result') job.resolve({ audio: msg.audio, ms: msg.ms, modelSamples: msg.modelSamples });
    else job.reject(new Error(`inference failed: ${msg.message}`));
    this.pump();
  }

  /** A stream id for `ChunkOutput`; `closeStream` when the stream ends, however it ends. */
  openStream(): number {
    const id = this.nextStream;
    this.nextStream += 1;
    return id;
  }

  /** Drops a stream's state in the thread (a stopped stream never sends its last chunk). */
  closeStream(stream: number): void {
    if (!this.released && !this.failure) this.thread.postMessage({ type: 'drop', stream });
  }

  private fail(err: Error): void {
    this.failure = err;
    const jobs = [...(this.running ? [this.running] : []), ...this.waiting];
    this.running = undefined;
    this.waiting.length = 0;
    for (const job of jobs) job.reject(err);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.fail(new Error('model released'));
    const done = new Promise<void>((resolve) => this.thread.once('exit', () => resolve()));
    this.thread.postMessage({ type: 'release' });
    await done;
  }
}
