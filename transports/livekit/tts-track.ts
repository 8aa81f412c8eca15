/**
 * The agent's speech for one user: a 48 kHz mono audio track fed 20 ms frames through an
 * `AudioSource`.
 *
 * The session's pacer already sends frames at the real-time cadence with a small lead, so the
 * source's queue holds only that lead (about 60-80 ms). That queue is the one place audio waits
 * after the pacer, so a hold must empty it at once:
 *
 * - `hold()` (barge-in, client PAUSE): `clearQueue()` now, so nothing queued plays after the hold;
 *   the frames that had not played yet (the source's queued duration, the frame being handed to
 *   it, and frames waiting here) are kept.
 * - `resume()`: those kept frames go out first, so speech resumes at the paused sample (to within
 *   the source's 10 ms granularity).
 * - `clear()` (STOP): `clearQueue()` now and forget everything kept.
 *
 * Frames go to the source one at a time (each `captureFrame` awaited) so their order holds. A
 * frame being handed to the native side while a hold happens could still land in the queue after
 * the `clearQueue()`; the queue is cleared again when that hand-over completes.
 */
import { AudioFrame, AudioSource, LocalAudioTrack, TrackPublishOptions, TrackSource, type Room } from '@livekit/rtc-node';

export const TTS_SAMPLE_RATE = 48_000;
export const TTS_FRAME_SAMPLES = 960; // 20 ms
const FRAME_MS = 20;
/** Room for the pacer's lead plus the frames a resume sends again. */
const SOURCE_QUEUE_MS = 400;
/** Frames remembered after capture, to find the ones still queued at a hold (> SOURCE_QUEUE_MS). */
const HISTORY_FRAMES = 25;

export class TtsTrack {
  private readonly pending: Buffer[] = [];
  private history: Buffer[] = [];
  private kept: Buffer[] = [];
  private inFlight: Buffer | undefined;
  private pumping = false;
  private generation = 0;
  private closed = false;
  /** Audio in the source's queue (ms) as of `queuedAt`: it drains in real time. */
  private queuedMs = 0;
  private queuedAt = 0;
  /** Frames handed to the source (for tests and logs). */
  framesCaptured = 0;

  private constructor(
    private readonly room: Room,
    private readonly source: AudioSource,
    private readonly track: LocalAudioTrack,
    readonly sid: string,
  ) {}

  /** Publishes a track named `name` in `room`. */
  static async publish(room: Room, name: string): Promise<TtsTrack> {
    const participant = room.localParticipant;
    if (!participant) throw new Error('the agent is not connected to its room');
    const source = new AudioSource(TTS_SAMPLE_RATE, 1, SOURCE_QUEUE_MS);
    const track = LocalAudioTrack.createAudioTrack(name, source);
    // dtx off: silence is sent as silence, so a listener's level drops to zero rather than to
    // comfort noise when the agent stops.
    const options = new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE, dtx: false });
    const publication = await participant.publishTrack(track, options);
    return new TtsTrack(room, source, track, publication.sid ?? '');
  }

  /** Queues one 1920-byte s16le frame. */
  send(pcm: Buffer): void {
    if (this.closed) return;
    this.pending.push(pcm);
    void this.pump();
  }

  hold(): void {
    if (this.closed) return;
    const queuedMs = this.queuedNow();
    this.source.clearQueue();
    this.queuedMs = 0;
    this.generation += 1;
    const stillQueued = Math.min(this.history.length, Math.ceil(queuedMs / FRAME_MS));
    this.kept = [
      ...this.kept,
      ...this.history.slice(this.history.length - stillQueued),
      ...(this.inFlight ? [this.inFlight] : []),
      ...this.pending.splice(0),
    ];
    this.history = [];
  }

  resume(): void {
    if (this.closed || this.kept.length === 0) return;
    this.pending.unshift(...this.kept);
    this.kept = [];
    void this.pump();
  }

  clear(): void {
    if (this.closed) return;
    this.source.clearQueue();
    this.queuedMs = 0;
    this.generation += 1;
    this.pending.length = 0;
    this.kept = [];
    this.history = [];
  }

  private queuedNow(): number {
    return Math.max(0, this.queuedMs - (performance.now() - this.queuedAt));
  }

  /** Frames waiting here or kept by a hold (not counting the source's own queue). */
  get backlog(): number {
    return this.pending.length + this.kept.length;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.pending.length > 0 && !this.closed) {
        const pcm = this.pending.shift() as Buffer;
        const generation = this.generation;
        this.inFlight = pcm;
        try {
          await this.source.captureFrame(toFrame(pcm));
          this.framesCaptured += 1;
          // The capture resolves once the frame is in the queue (it waits while the queue is
          // full), so the queue's length is known here; AudioSource.queuedDuration counts from
          // the call instead and overstates it while captures wait.
          this.queuedMs = this.queuedNow() + (pcm.length / 2 / TTS_SAMPLE_RATE) * 1000;
          this.queuedAt = performance.now();
        } catch {
          // the source was closed under us; nothing to play any more
        }
        this.inFlight = undefined;
        if (this.closed) return;
        if (generation !== this.generation) {
          // a hold or stop happened while this frame was being queued: it must not play
          this.source.clearQueue();
          this.queuedMs = 0;
          continue;
        }
        this.history.push(pcm);
        if (this.history.length > HISTORY_FRAMES) this.history.shift();
      }
    } finally {
      this.pumping = false;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending.length = 0;
    this.kept = [];
    try {
      if (this.sid && this.room.localParticipant) await this.room.localParticipant.unpublishTrack(this.sid);
    } catch {
      // the room is gone already
    }
    await this.track.close().catch(() => undefined); // closes the source too
  }
}

function toFrame(pcm: Buffer): AudioFrame {
  // A copy: the Int16Array needs its own aligned buffer, and the FFI reads it later.
  const samples = new Int16Array(pcm.length >> 1);
  for (let i = 0; i < samples.length; i += 1) samples[i] = pcm.readInt16LE(2 * i);
  return new AudioFrame(samples, TTS_SAMPLE_RATE, 1, samples.length);
}
