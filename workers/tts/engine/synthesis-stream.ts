import { OUTPUT_SAMPLE_RATE, type AudioFrame } from './audio-frame.js';
import { Framer, type RawFrame } from './framer.js';
import { gainToTarget, integratedLoudness } from './loudness.js';
import { floatToS16 } from './pcm.js';
import type { InferenceParams, PiperModel } from './piper-model.js';

export interface SynthesisChunk {
  ids: number[];
  /** Set on a sentence's last chunk: where that sentence's text ends. */
  textEnd?: number;
  /** Where the chunk's sentence goes on before or after it (the model shortens those edges). */
  joins?: { previous: boolean; next: boolean };
}

export interface StreamStats {
  /** performance.now() when synthesis started, when the first frame was ready. */
  startedAt: number;
  firstFrameAt: number | undefined;
  /** Model compute time and the audio it produced, for RTF. */
  computeMs: number;
  audioMs: number;
  chunks: number;
  frames: number;
}

export interface StreamOptions {
  inference?: InferenceParams;
  /** Normalise each utterance to this integrated loudness (LUFS); off when undefined. */
  loudnessTarget?: number;
  /** Frames buffered ahead of the consumer before synthesis waits (bounds memory). */
  maxBufferedFrames?: number;
  /**
   * Drop the utterance's leading silence: samples before the first one above this level (dBFS),
   * less a short lead-in. Off when undefined (Piper's audio untouched).
   */
  trimLeadingSilenceDb?: number;
  /**
   * The listener hears none of this stream for this long yet (audio of an earlier utterance
   * plays first): its chunks are scheduled by when their audio is needed, after that.
   */
  startAfterMs?: number;
}

type Waiter = () => void;

/**
 * One utterance as an async iterable of 20 ms frames. Chunk k+1 is synthesized while the frames
 * of chunk k are consumed. `pause` holds output before the next frame and `resume` continues at
 * the exact next sample; `stop` ends the stream between two frames and abandons the rest.
 */
export class SynthesisStream implements AsyncIterable<AudioFrame> {
  readonly stats: StreamStats = { startedAt: performance.now(), firstFrameAt: undefined, computeMs: 0, audioMs: 0, chunks: 0, frames: 0 };
  private readonly queue: (RawFrame & { textDone: number })[] = [];
  /** End of the text whose audio has all been queued (a finished sentence). */
  private textDone = 0;
  private producing = true;
  /**
   * Audio after the frames now queued is certain (a later chunk is being or will be
   * synthesized). Frames held back for the final flag
   * are then released at once: holding the last frame of every chunk until the next chunk is
   * ready would take 20 ms off the listener's slack at each chunk boundary.
   */
  private moreChunks = true;
  private failure: unknown;
  private pausedFlag = false;
  private stoppedFlag = false;
  private sequence = 0;
  private consumerWaiter: Waiter | undefined;
  private producerWaiter: Waiter | undefined;
  private readonly maxBuffered: number;
  private readonly cancel = new AbortController();

  constructor(
    private readonly model: PiperModel,
    private readonly chunks: readonly SynthesisChunk[],
    private readonly options: StreamOptions = {},
  ) {
    // At least 2: the consumer holds the last frame back until it knows whether it is final.
    this.maxBuffered = Math.max(2, options.maxBufferedFrames ?? 1500);
    void this.produce();
  }

  get paused(): boolean {
    return this.pausedFlag;
  }

  get stopped(): boolean {
    return this.stoppedFlag;
  }

  /** Frames synthesized but not yet taken by the consumer. */
  get buffered(): number {
    return this.queue.length;
  }

  pause(): void {
    this.pausedFlag = true;
  }

  resume(): void {
    this.pausedFlag = false;
    this.wakeConsumer();
  }

  stop(): void {
    this.stoppedFlag = true;
    this.cancel.abort(); // the look-ahead chunk waiting for the model is dropped
    this.queue.length = 0;
    this.wakeConsumer();
    this.wakeProducer();
  }

  private wakeConsumer(): void {
    const w = this.consumerWaiter;
    this.consumerWaiter = undefined;
    w?.();
  }

  private wakeProducer(): void {
    const w = this.producerWaiter;
    this.producerWaiter = undefined;
    w?.();
  }

  private enqueue(frames: RawFrame[]): void {
    if (frames.length === 0 || this.stoppedFlag) return;
    this.stats.firstFrameAt ??= performance.now();
    for (const f of frames) this.queue.push({ ...f, textDone: this.textDone });
    this.wakeConsumer();
  }

  /**
   * When this stream's listener would run out of audio if playback began with the first frame:
   * the model runs waiting chunks earliest-deadline-first, so a stream with seconds of audio
   * buffered yields to one about to starve, and a new utterance's first chunk (deadline: now)
   * goes ahead of other streams' later chunks; one synthesised ahead (`startAfterMs`) waits its turn.
   */
  private deadline(): number {
    const queuedAudio = this.stats.audioMs + this.inFlightAudioMs;
    const heardFrom = this.stats.startedAt + (this.options.startAfterMs ?? 0);
    if (this.stats.firstFrameAt === undefined) return queuedAudio === 0 ? heardFrom : Math.max(performance.now(), heardFrom) + queuedAudio;
    return Math.max(this.stats.firstFrameAt, heardFrom) + queuedAudio;
  }

  /** Estimated audio of chunks submitted to the model and not yet returned. */
  private inFlightAudioMs = 0;
  /** Audio per phoneme id so far (a medium voice gives ~16 ms before anything is measured). */
  private msPerId(): number {
    return this.idsDone > 0 ? this.stats.audioMs / this.idsDone : 16;
  }
  private idsDone = 0;

  private async produce(): Promise<void> {
    const framer = new Framer();
    const stream = this.model.openStream();
    let gain: number | undefined;
    let priority = Number.NEGATIVE_INFINITY;
    try {
      // Chunk k+1 waits in the model's queue while chunk k runs (with its deadline): when chunk
      // k finishes, the model takes k+1 at once if it is the most urgent, instead of starting a
      // long chunk of another stream in the moment between this stream's result and its next
      // request (the model picks its next job synchronously when one finishes).
      const submit = (at: number) => {
        const chunk = this.chunks[at];
        if (!chunk || this.stoppedFlag) return undefined;
        // Never earlier than this stream's previous chunk: the thread resamples them in order.
        priority = Math.max(priority, this.deadline());
        const output = {
          stream,
          rate: OUTPUT_SAMPLE_RATE,
          first: at === 0,
          last: at === this.chunks.length - 1,
          ...(this.options.trimLeadingSilenceDb !== undefined && { trimDb: this.options.trimLeadingSilenceDb }),
        };
        const job = this.model.inferTimed(chunk.ids, {
          ...this.options.inference,
          priority,
          signal: this.cancel.signal,
          output,
          ...(chunk.joins && { joins: chunk.joins }),
        });
        job.catch(() => undefined); // a cancelled look-ahead is never awaited
        const estimate = chunk.ids.length * this.msPerId();
        this.inFlightAudioMs += estimate;
        return { job, estimate, ids: chunk.ids.length };
      };
      let next = submit(0);
      for (const [index, chunk] of this.chunks.entries()) {
        if (this.stoppedFlag || !next) break;
        const current = next;
        next = undefined;
        while (this.queue.length > this.maxBuffered && !this.stoppedFlag) {
          await new Promise<void>((r) => (this.producerWaiter = r));
        }
        if (this.stoppedFlag) break;
        next = submit(index + 1);
        // Already at 48 kHz: the inference thread resamples (and trims the first chunk).
        const { audio, ms, modelSamples } = await current.job;
        this.inFlightAudioMs -= current.estimate;
        this.idsDone += current.ids;
        this.stats.computeMs += ms;
        this.stats.audioMs += (modelSamples / this.model.sampleRate) * 1000;
        this.stats.chunks += 1;
        if (this.stoppedFlag) break;
        // Set only now: while the last chunk is synthesized, the previous one's frames still
        // have audio after them.
        this.moreChunks = index < this.chunks.length - 1;
        if (this.options.loudnessTarget !== undefined && gain === undefined) {
          gain = gainToTarget(integratedLoudness(audio), this.options.loudnessTarget);
        }
        this.enqueue(framer.push(floatToS16(audio, gain ?? 1)));
        if (chunk.textEnd !== undefined) this.textDone = chunk.textEnd;
      }
      if (!this.stoppedFlag) {
        const last = framer.flush();
        if (last) this.enqueue([last]);
      }
    } catch (err) {
      this.failure = err;
    } finally {
      this.model.closeStream(stream);
      this.producing = false;
      this.wakeConsumer();
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<AudioFrame> {
    for (;;) {
      if (this.stoppedFlag) return;
      // The final flag needs to know no frame follows, so the last frame waits for the producer.
      const ready = !this.pausedFlag && (this.queue.length > 1 || (this.queue.length === 1 && (!this.producing || this.moreChunks)));
      if (!ready) {
        if (!this.producing && this.queue.length === 0) {
          if (this.failure) throw this.failure;
          return;
        }
        await new Promise<void>((r) => (this.consumerWaiter = r));
        continue;
      }
      const raw = this.queue.shift() as RawFrame & { textDone: number };
      if (this.queue.length <= this.maxBuffered) this.wakeProducer();
      this.sequence += 1;
      this.stats.frames += 1;
      // A failed synthesis has no final frame: the iterator throws after the frames it has.
      const final = this.queue.length === 0 && !this.producing && this.failure === undefined;
      yield {
        samples: raw.samples,
        sampleRate: OUTPUT_SAMPLE_RATE,
        sequence: this.sequence,
        validSamples: raw.validSamples,
        final,
        textDone: final ? this.textDone : raw.textDone,
      };
    }
  }
}

