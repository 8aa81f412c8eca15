import type { Voicepack } from '../voices/voicepack.js';
import { chunkSentenceSpans, DEFAULT_CHUNK_POLICY, type ChunkPolicy } from './chunker.js';
import { espeakVersion } from './espeak.js';
import { phonemesToIds } from './phoneme-ids.js';
import { PiperModel, type InferenceParams, type InferenceTuning } from './piper-model.js';
import { preparedModelPath, type PreparedModel } from './prepared-model.js';
import { SynthesisStream, type StreamOptions } from './synthesis-stream.js';
import { phonemeIdsForText } from './text-to-ids.js';

/**
 * The range each synthesis setting accepts at the edges (gRPC, `npm run synth`), [min, max]:
 * outside it Piper's model fails deep inside onnxruntime (a NaN scale) or says nothing useful.
 */
export const SYNTHESIS_LIMITS = {
  lengthScale: [0.1, 5],
  noiseScale: [0, 2],
  noiseW: [0, 2],
  loudnessTarget: [-70, 0],
} as const satisfies Record<string, readonly [number, number]>;

export interface SynthesizeOptions extends Omit<StreamOptions, 'inference'> {
  speaker?: string | number;
  lengthScale?: number;
  noiseScale?: number;
  noiseW?: number;
  chunking?: Partial<ChunkPolicy>;
}

export interface EngineOptions {
  tuning?: Partial<InferenceTuning>;
  /** Called with phonemes the voice has no id for (they are dropped). */
  onMissingPhonemes?: (phonemes: string[], text: string) => void;
  /**
   * Load the voice with its upsampling rewritten as polyphase Conv (prepared-model.ts: same
   * audio, ~18% less inference time). Default true; false loads the voice's file as it is.
   */
  prepareModel?: boolean;
}

/** A loaded Piper voice: text in, a stream of 48 kHz 20 ms frames out. */
export class PiperEngine {
  private constructor(
    readonly voice: Voicepack,
    readonly model: PiperModel,
    private readonly options: EngineOptions,
    /** Which model file runs, and how it was prepared (for the load log). */
    readonly preparation: PreparedModel,
  ) {}

  static async load(voice: Voicepack, options: EngineOptions = {}): Promise<PiperEngine> {
    espeakVersion(); // fail fast, with install advice, before loading the model
    const preparation =
      options.prepareModel === false
        ? { path: voice.modelPath, prepared: false, created: false, ms: 0 }
        : await preparedModelPath(voice.modelPath);
    const model = await PiperModel.load(preparation.path, voice.config, options.tuning);
    return new PiperEngine(voice, model, options, preparation);
  }

  /** Runs one short synthesis so the first real request pays no graph set-up; returns its ms. */
  async warmup(): Promise<number> {
    const t0 = performance.now();
    for await (const _ of this.synthesize('Warm up.', { chunking: { mode: 'sentence' } })) {
      // drain
    }
    return performance.now() - t0;
  }

  synthesize(text: string, options: SynthesizeOptions = {}): SynthesisStream {
    const { sentences, missing } = phonemeIdsForText(text, this.voice.config);
    if (missing.length > 0) {
      (this.options.onMissingPhonemes ?? ((m) => console.warn(`[tts] dropped phonemes missing from the voice: ${[...new Set(m)].join(' ')}`)))(
        missing,
        text,
      );
    }
    const policy = { ...DEFAULT_CHUNK_POLICY, ...options.chunking };
    const chunks = chunkSentenceSpans(sentences, policy).map(({ phonemes, textEnd, continuesSentence }) => ({
      ids: phonemesToIds(phonemes, this.voice.config.phoneme_id_map).ids,
      ...(textEnd !== undefined && { textEnd }),
      joins: { previous: continuesSentence, next: textEnd === undefined },
    }));
    const inference: InferenceParams = {
      speakerId: this.model.speakerId(options.speaker),
      ...(options.lengthScale !== undefined && { lengthScale: options.lengthScale }),
      ...(options.noiseScale !== undefined && { noiseScale: options.noiseScale }),
      ...(options.noiseW !== undefined && { noiseW: options.noiseW }),
    };
    return new SynthesisStream(this.model, chunks, { ...options, inference });
  }

  async release(): Promise<void> {
    await this.model.release();
  }
}
