/**
 * What the page exposes on `window.__duplex` for browser tests (and developers in the console):
 * plain data types, free of DOM types, so Node-side tests type-check against them too.
 * Times are performance.now() milliseconds in the page.
 */
export type GateMode = 'open' | 'closed' | 'oneshot';

export interface PlaybackStats {
  receivedSamples: number;
  playedSamples: number;
  audibleSamples: number;
  droppedSamples: number;
  underruns: number;
  overflows: number;
  buffered: number;
  holding: boolean;
  /** performance.now() of the end of the last audible sample played, or null. */
  lastAudibleAt: number | null;
}

export interface TextRecord {
  text: string;
  sentAt: number;
  /** State when sent: FAL is measured only for text that starts speaking at once. */
  sentIn: string;
  firstFrameAt?: number;
  firstAudibleAt?: number;
  doneAt?: number;
  /** Stopped before its end (barge-in policy, limit, or the page's STOP). */
  stoppedAt?: number;
  /** Frames received for this text (20 ms each). */
  frames: number;
}

export interface BargeInRecord {
  /** The BARGED_IN state message arrived. */
  at: number;
  /** The `vad` speech:true message before it, if any. */
  vadAt: number | null;
  /** Speech passed the page's one-shot gate (speech onset in the input), if measured. */
  onsetAt: number | null;
  /** End of the last audible sample played (null: nothing was audible). */
  lastAudibleAt?: number | null;
  /** max(0, lastAudibleAt − at). */
  silentAfterMs?: number;
  /** max(0, lastAudibleAt − vadAt). */
  silentAfterVadMs?: number;
  /**
   * The playback worklet's audible-sample count once the hold took effect (WebSocket mode): any
   * audio played later shows as a higher count, whatever the render clock did meanwhile.
   */
  audibleSamplesAtHold?: number;
  /** Audio the page had buffered and did not play when it held (ms at 48 kHz). */
  heldMs?: number;
  /** The output device's latency: add it for when the listener hears the silence. */
  outputLatencyMs?: number;
  /** What ended the barge-in: the next state. */
  then?: string;
}

export interface DuplexHooks {
  /** `websocket` or `livekit` once started. */
  mode: string | null;
  connection: string;
  sessionId: string | null;
  state: string;
  states: { state: string; at: number }[];
  /** Every JSON message received (audio aside), with its arrival time. */
  events: { type: string; at: number }[];
  framesReceived: number;
  texts: TextRecord[];
  bargeIns: BargeInRecord[];
  /** Current RMS level of the played audio (dBFS), from an AnalyserNode. */
  analyserLevel(): number;
  /** Loudest output level seen so far (dBFS). */
  peakLevel: number;
  /** Last audible output seen by the analyser. */
  analyserLastAudibleAt: number | null;
  /** The playback worklet's own counts (WebSocket mode) and the end of the last audible sample. */
  audioStats(): PlaybackStats | null;
  /** Fresh counts from the render thread, after every command sent so far took effect. */
  freshAudioStats(): Promise<PlaybackStats | null>;
  /** The output device's latency (ms). */
  outputLatencyMs(): number;
  /** Microphone gate: `open`, `closed`, or `oneshot` (one stretch of speech, then closed). */
  mic: { gate(mode: GateMode): void; mode(): GateMode | null };
  send(text: string): void;
  control(command: 'PAUSE' | 'RESUME' | 'STOP'): void;
  error: string | null;
}
