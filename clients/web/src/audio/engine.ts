/**
 * The page's audio: one AudioContext at 48 kHz (the TTS rate, so playback needs no resampling),
 * created and resumed on the first user gesture.
 *
 * Out: playback worklet (WebSocket PCM) or the agent's WebRTC track (LiveKit) → gain → analyser
 *      → speakers. `hold` / `flush` silence it at once; `release` continues.
 * In:  microphone → capture worklet (gate; 16 kHz frames in WebSocket mode) → analyser (meter)
 *      and a MediaStream destination (the track LiveKit publishes).
 */
import type { GateMode, PlaybackStats } from '../shared/hook-types.js';
import captureUrl from './capture.worklet.ts?worker&url';
import playbackUrl from './playback.worklet.ts?worker&url';
import { StatsRequests } from './stats-requests.js';

export type { GateMode, PlaybackStats };


interface WorkletStats extends Omit<PlaybackStats, 'lastAudibleAt'> {
  type: 'stats';
  /** Context time when the message was posted (end of the quantum just rendered). */
  now: number;
  lastAudibleEnd: number;
  /** The last `freshStats()` request the worklet had received when it made this report. */
  answered: number;
}

export interface EngineEvents {
  /** A 20 ms 16 kHz s16le microphone frame (WebSocket mode). */
  onMicFrame?(pcm: ArrayBuffer): void;
  /** The first audible sample of a playback run was rendered (performance.now() time). */
  onAudible?(at: number): void;
  /** Speech passed the one-shot gate (performance.now() time). */
  onMicOnset?(at: number): void;
  onGate?(mode: GateMode): void;
  onStats?(stats: PlaybackStats): void;
}

const OUTPUT_RATE = 48_000;

export class AudioEngine {
  readonly ctx: AudioContext;
  readonly outAnalyser: AnalyserNode;
  readonly micAnalyser: AnalyserNode;
  private readonly outGain: GainNode;
  private readonly playback: AudioWorkletNode;
  private capture: AudioWorkletNode | undefined;
  private micStream: MediaStream | undefined;
  private micDestination: MediaStreamAudioDestinationNode | undefined;
  private remote: MediaStreamAudioSourceNode | undefined;
  private stats: PlaybackStats = {
    receivedSamples: 0,
    playedSamples: 0,
    audibleSamples: 0,
    droppedSamples: 0,
    underruns: 0,
    overflows: 0,
    buffered: 0,
    holding: false,
    lastAudibleAt: null,
  };
  private readonly statsRequests = new StatsRequests<PlaybackStats>();
  gateMode: GateMode = 'open';

  private constructor(
    ctx: AudioContext,
    private readonly events: EngineEvents,
  ) {
    this.ctx = ctx;
    this.outGain = new GainNode(ctx, { gain: 1 });
    this.outAnalyser = new AnalyserNode(ctx, { fftSize: 1024, smoothingTimeConstant: 0 });
    this.micAnalyser = new AnalyserNode(ctx, { fftSize: 1024, smoothingTimeConstant: 0 });
    this.playback = new AudioWorkletNode(ctx, 'duplex-playback', { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
    this.playback.connect(this.outGain).connect(this.outAnalyser).connect(ctx.destination);
    this.playback.port.onmessage = (e: MessageEvent<WorkletStats | { type: 'audible'; at: number; now: number }>) => {
      const m = e.data;
      if (m.type === 'audible') {
        this.events.onAudible?.(renderTime(m.at, m.now));
        return;
      }
      const { type: _t, now, lastAudibleEnd, answered, ...rest } = m;
      this.stats = { ...rest, lastAudibleAt: lastAudibleEnd < 0 ? null : renderTime(lastAudibleEnd, now) };
      this.events.onStats?.(this.stats);
      this.statsRequests.settle(answered, this.stats);
    };
  }

  /** Must run inside a user gesture (click): creating and resuming the context unlocks audio. */
  static async create(events: EngineEvents = {}): Promise<AudioEngine> {
    const ctx = new AudioContext({ sampleRate: OUTPUT_RATE, latencyHint: 'interactive' });
    const resumed = ctx.resume();
    await Promise.all([ctx.audioWorklet.addModule(playbackUrl), ctx.audioWorklet.addModule(captureUrl), resumed]);
    return new AudioEngine(ctx, events);
  }

  /**
   * How long after rendering a sample is heard (ms): the context's output latency plus its
   * base latency. Render-side times below exclude it; it is reported alongside.
   */
  outputLatencyMs(): number {
    return ((this.ctx.outputLatency || 0) + (this.ctx.baseLatency || 0)) * 1000;
  }

  /** Asks for the microphone (the browser's permission prompt) and starts the capture path. */
  async startMicrophone(opts: { send: boolean; gate: GateMode }): Promise<MediaStream> {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    this.micStream = stream;
    const source = new MediaStreamAudioSourceNode(this.ctx, { mediaStream: stream });
    const capture = new AudioWorkletNode(this.ctx, 'duplex-capture', { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
    this.capture = capture;
    capture.port.onmessage = (e: MessageEvent<{ type: string; pcm?: ArrayBuffer; mode?: GateMode; at?: number; now?: number }>) => {
      const m = e.data;
      if (m.type === 'frame' && m.pcm) this.events.onMicFrame?.(m.pcm);
      else if (m.type === 'onset' && m.at !== undefined) this.events.onMicOnset?.(renderTime(m.at, m.now ?? m.at));
      else if (m.type === 'gate' && m.mode) {
        this.gateMode = m.mode;
        this.events.onGate?.(m.mode);
      }
    };
    source.connect(this.micAnalyser);
    source.connect(capture);
    this.micDestination = new MediaStreamAudioDestinationNode(this.ctx, { channelCount: 1 });
    capture.connect(this.micDestination);
    this.setGate(opts.gate);
    capture.port.postMessage({ type: 'send', on: opts.send });
    return stream;
  }

  /** The gated microphone as a track (what LiveKit publishes). */
  gatedMicTrack(): MediaStreamTrack | undefined {
    return this.micDestination?.stream.getAudioTracks()[0];
  }

  setGate(mode: GateMode): void {
    this.gateMode = mode;
    this.capture?.port.postMessage({ type: 'gate', mode });
  }

  /** One 48 kHz s16le chunk of the agent's speech (WebSocket mode). */
  playPcm(pcm: ArrayBuffer): void {
    this.playback.port.postMessage({ type: 'pcm', pcm }, [pcm]);
  }

  /** LiveKit mode: the agent's audio track takes the playback worklet's place. */
  attachRemoteTrack(track: MediaStreamTrack): void {
    this.remote?.disconnect();
    this.remote = new MediaStreamAudioSourceNode(this.ctx, { mediaStream: new MediaStream([track]) });
    this.remote.connect(this.outGain);
  }

  /** Silence at once, keep what is buffered (barge-in, client PAUSE). */
  hold(): void {
    this.outGain.gain.setValueAtTime(0, this.ctx.currentTime);
    this.playback.port.postMessage({ type: 'hold' });
  }

  release(): void {
    this.outGain.gain.setValueAtTime(1, this.ctx.currentTime);
    this.playback.port.postMessage({ type: 'release' });
  }

  /** Silence at once and drop what is buffered (STOP, the utterance is over). */
  flush(): void {
    this.playback.port.postMessage({ type: 'flush' });
  }

  /** The utterance has been sent in full: an empty buffer from now on is not an underrun. */
  endOfUtterance(): void {
    this.playback.port.postMessage({ type: 'end' });
  }

  playbackStats(): PlaybackStats {
    return this.stats;
  }

  /** Fresh statistics from the render thread (after every command sent so far took effect). */
  freshStats(): Promise<PlaybackStats> {
    return new Promise((resolve) => {
      const id = this.statsRequests.open(resolve);
      this.playback.port.postMessage({ type: 'stats', id });
    });
  }

  /** RMS level (dBFS) of what the speakers get now. */
  outputLevel(): number {
    return rmsDb(this.outAnalyser);
  }

  micLevel(): number {
    return rmsDb(this.micAnalyser);
  }

  async close(): Promise<void> {
    for (const t of this.micStream?.getTracks() ?? []) t.stop();
    await this.ctx.close();
  }
}

/**
 * A render-thread context time (s) as performance.now() (ms), from a message the render thread
 * posted at context time `postedAt`: the message's own delay only makes the result later, so
 * "silent from" times are never flattered.
 */
function renderTime(contextTime: number, postedAt: number): number {
  return performance.now() - (postedAt - contextTime) * 1000;
}

const scratch = new Float32Array(1024);

function rmsDb(analyser: AnalyserNode): number {
  const data = scratch.length === analyser.fftSize ? scratch : new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(data);
  let sum = 0;
  for (let i = 0; i < data.length; i += 1) sum += (data[i] as number) ** 2;
  const rms = Math.sqrt(sum / data.length);
  return rms > 0 ? 20 * Math.log10(rms) : -120;
}
