/**
 * TTS playback (AudioWorklet, render thread): a ring buffer of the agent's 48 kHz audio.
 *
 * A run of audio starts once two frames (40 ms) are buffered or the first has waited 40 ms: the
 * orchestrator's pacer sends at real time with a 60 ms lead, but on a busy machine the second
 * frame of an utterance can come late, and starting on one frame then ran dry. `hold` silences
 * the output from the next render quantum (128 samples, 2.7 ms) and keeps what is buffered, so a
 * resumed utterance continues at the exact sample; `flush` silences and drops it. The processor measures what it actually renders: the
 * context time of the first audible sample of each run and of the end of the last audible
 * sample, which is how the page knows when it went silent.
 */
import { scope } from './worklet-scope.js';

type Command = { type: 'pcm'; pcm: ArrayBuffer } | { type: 'hold' | 'release' | 'flush' | 'end' } | { type: 'stats'; id: number };

const CAPACITY = 48_000 * 10;
/** −60 dBFS: a sample above this is audible. */
const AUDIBLE = 0.001;
const STATS_EVERY = 16; // render quanta (~43 ms)
/** Jitter buffer: 40 ms (two frames) before a run starts, or at most that long a wait. */
const PRIME_SAMPLES = 1920;

class PlaybackProcessor extends scope.AudioWorkletProcessor {
  private readonly ring = new Float32Array(CAPACITY);
  private read = 0;
  private count = 0;
  private holding = false;
  /** More audio of the current utterance is expected (an empty buffer is an underrun). */
  private expectMore = false;
  private runStarted = false;
  private quanta = 0;
  private dirty = false;
  /** The last stats request received: every report echoes it (see stats-requests.ts). */
  private answered = 0;
  private readonly stats = {
    receivedSamples: 0,
    playedSamples: 0,
    audibleSamples: 0,
    droppedSamples: 0,
    underruns: 0,
    overflows: 0,
    /** Context time just after the last audible sample rendered (s), or -1. */
    lastAudibleEnd: -1,
  };
  /** A run plays once primed: two frames buffered, or the first one waited 40 ms, or the end came. */
  private primed = false;
  private waitedSamples = 0;

  constructor() {
    super();
    this.port.onmessage = (e: MessageEvent<Command>) => this.command(e.data);
  }

  private command(m: Command): void {
    switch (m.type) {
      case 'pcm': {
        const pcm = new Int16Array(m.pcm);
        if (this.count === 0 && !this.holding) this.runStarted = false;
        for (let i = 0; i < pcm.length; i += 1) {
          if (this.count === CAPACITY) {
            // Never expected (the server paces at real time): drop the oldest sample.
            this.read = (this.read + 1) % CAPACITY;
            this.count -= 1;
            this.stats.overflows += 1;
          }
          this.ring[(this.read + this.count) % CAPACITY] = (pcm[i] as number) / 32768;
          this.count += 1;
        }
        this.stats.receivedSamples += pcm.length;
        this.expectMore = true;
        break;
      }
      case 'hold':
        this.holding = true;
        break;
      case 'release':
        this.holding = false;
        break;
      case 'flush':
        this.stats.droppedSamples += this.count;
        this.read = 0;
        this.count = 0;
        this.primed = false;
        this.expectMore = false;
        break;
      case 'end':
        this.expectMore = false;
        break;
      case 'stats':
        this.answered = m.id;
        break;
    }
    // Report right after the render quantum that applies the command.
    this.dirty = true;
    this.quanta = STATS_EVERY;
  }

  process(_inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const out = outputs[0]?.[0];
    if (!out) return true;
    const n = out.length;
    let written = 0;
    if (!this.primed && this.count > 0 && !this.holding) {
      this.waitedSamples += n;
      this.primed = this.count >= PRIME_SAMPLES || this.waitedSamples >= PRIME_SAMPLES || !this.expectMore;
    }
    if (this.primed && !this.holding && this.count > 0) {
      written = Math.min(n, this.count);
      let lastAudible = -1;
      for (let i = 0; i < written; i += 1) {
        const s = this.ring[(this.read + i) % CAPACITY] as number;
        out[i] = s;
        if (s > AUDIBLE || s < -AUDIBLE) {
          lastAudible = i;
          this.stats.audibleSamples += 1;
          if (!this.runStarted) {
            this.runStarted = true;
            this.port.postMessage({ type: 'audible', at: scope.currentTime + i / scope.sampleRate, now: scope.currentTime + n / scope.sampleRate });
          }
        }
      }
      this.read = (this.read + written) % CAPACITY;
      this.count -= written;
      this.stats.playedSamples += written;
      if (lastAudible >= 0) this.stats.lastAudibleEnd = scope.currentTime + (lastAudible + 1) / scope.sampleRate;
      this.dirty = true;
    }
    out.fill(0, written);
    if (written < n && !this.holding && this.count === 0) {
      if (this.primed && this.expectMore) this.stats.underruns += 1;
      // Ran dry (underrun or the end): the next audio primes again.
      this.primed = false;
      this.waitedSamples = 0;
    }
    for (let c = 1; c < (outputs[0]?.length ?? 0); c += 1) outputs[0]?.[c]?.set(out);
    this.quanta += 1;
    if (this.dirty && this.quanta >= STATS_EVERY) {
      this.quanta = 0;
      this.dirty = false;
      this.port.postMessage({ type: 'stats', now: scope.currentTime + n / scope.sampleRate, buffered: this.count, holding: this.holding, answered: this.answered, ...this.stats });
    }
    return true;
  }
}

scope.registerProcessor('duplex-playback', PlaybackProcessor);
