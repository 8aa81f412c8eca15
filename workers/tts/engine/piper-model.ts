import ort from 'onnxruntime-node';
import type { PiperConfig } from '../voices/voicepack.js';

export interface InferenceTuning {
  /** Threads inside one inference (ORT intra-op). */
  intraOpThreads: number;
  graphOptimization: 'disabled' | 'basic' | 'extended' | 'all';
  /** ORT's CPU arena reuses buffers between runs. */
  memoryArena: boolean;
  /**
   * Let ORT's worker threads busy-wait between parallel sections. On a 2-core machine spinning
   * threads starve Node's event loop, so control messages (PAUSE on barge-in) wait behind
   * inference; off costs a few percent of throughput (`--suite ort-options`).
   */
  spinning: boolean;
}

/**
 * Defaults chosen by `npm run bench -- --suite ort-options` on the 2-core reference machine
 * (figures in the README): all graph optimisations; two intra-op threads beat one for a single
 * stream; the arena on is faster and, with glibc's allocator, also lower in RSS than without it.
 */
export const DEFAULT_TUNING: InferenceTuning = {
  intraOpThreads: 2,
  graphOptimization: 'all',
  memoryArena: true,
  spinning: false,
};

export interface InferenceParams {
  noiseScale?: number;
  lengthScale?: number;
  noiseW?: number;
  speakerId?: number;
}

/** A Piper VITS model in onnxruntime-node: phoneme ids in, float audio at the voice's rate out. */
export class PiperModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly config: PiperConfig,
    readonly sampleRate: number,
  ) {}

  static async load(model: string | Uint8Array, config: PiperConfig, tuning: Partial<InferenceTuning> = {}): Promise<PiperModel> {
    const t = { ...DEFAULT_TUNING, ...tuning };
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: ['cpu'],
      intraOpNumThreads: t.intraOpThreads,
      interOpNumThreads: 1,
      graphOptimizationLevel: t.graphOptimization,
      executionMode: 'sequential',
      enableCpuMemArena: t.memoryArena,
      extra: { session: { 'intra_op.allow_spinning': t.spinning ? '1' : '0' } },
    };
    const session =
      typeof model === 'string' ? await ort.InferenceSession.create(model, options) : await ort.InferenceSession.create(model, options);
    return new PiperModel(session, config, config.audio.sample_rate);
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

  async infer(ids: readonly number[], params: InferenceParams = {}): Promise<Float32Array> {
    const inference = this.config.inference;
    const input = new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [1, ids.length]);
    const feeds: Record<string, ort.Tensor> = {
      input,
      input_lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(ids.length)]), [1]),
      scales: new ort.Tensor(
        'float32',
        Float32Array.from([
          params.noiseScale ?? inference.noise_scale,
          params.lengthScale ?? inference.length_scale,
          params.noiseW ?? inference.noise_w,
        ]),
        [3],
      ),
    };
    if (this.numSpeakers > 1) {
      feeds.sid = new ort.Tensor('int64', BigInt64Array.from([BigInt(params.speakerId ?? 0)]), [1]);
    }
    const results = await this.session.run(feeds);
    const output = results.output ?? Object.values(results)[0];
    if (!output) throw new Error('model produced no output');
    return output.data as Float32Array;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
