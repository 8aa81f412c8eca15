/**
 * The chat session as the page sees it: transport, audio engine and what happened, with the
 * measurements tests read through `window.__duplex` (see hooks.ts):
 *
 * - first-audio latency per text: sent → first frame received, and → first audible sample;
 * - barge-in silence: the BARGED_IN state message (and the `vad` speech edge just before it) →
 *   the end of the last audible sample the page rendered (the device's output latency, constant
 *   and the same for all audio, is reported beside it).
 *
 * Playback follows the session state: BARGED_IN and PAUSED hold the output at once (what is
 * buffered is kept, so a resume continues at the exact sample), SPEAKING releases it, and a
 * stop (the page's own STOP, or LISTENING straight after a barge-in) drops the buffer and keeps
 * the output held until the next SPEAKING: audio of the stopped reply can still be on its way
 * (frames the server sent before the STOP reached it; over LiveKit, whatever the track's jitter
 * buffer holds, which the page cannot drop), and none of it may be heard.
 */
import { AudioEngine } from '../audio/engine.js';
import type { BargeInRecord, GateMode, PlaybackStats, TextRecord } from '../shared/hook-types.js';
import type { ClientConfig, ControlCommand, ServerMessage } from '../shared/messages.js';
import { LiveKitTransport } from './livekit-transport.js';
import type { ConnectionStatus, Transport } from './transport.js';
import { WebSocketTransport } from './ws-transport.js';

export type { BargeInRecord, TextRecord };

export interface SessionEvents {
  onStatus(status: ConnectionStatus, detail?: string): void;
  onMicrophoneError(message: string): void;
  onMessage(message: ServerMessage): void;
  onTextUpdate(record: TextRecord): void;
}

const AUDIBLE_DB = -60;

export class ChatSession {
  state = 'CONNECTING';
  states: { state: string; at: number }[] = [];
  messages: (ServerMessage & { at: number })[] = [];
  sessionId: string | null = null;
  vadSpeech = false;
  framesReceived = 0;
  texts: TextRecord[] = [];
  bargeIns: BargeInRecord[] = [];
  /** Loudest output level the meter loop saw (dBFS). */
  peakOutputDb = -120;
  /** Last audible output seen by the analyser (performance.now()), any transport. */
  analyserLastAudibleAt: number | null = null;
  status: ConnectionStatus = 'connecting';
  private lastVadAt: number | null = null;
  private lastOnsetAt: number | null = null;
  private current: TextRecord | undefined;
  /** Texts sent while a reply played, in the order the server queued them. */
  private readonly pending: TextRecord[] = [];
  /** The page sent STOP: the LISTENING that answers it drops what arrived of the reply meanwhile. */
  private stopped = false;
  private meterTimer: number | undefined;
  readonly transport: Transport;

  private constructor(
    readonly engine: AudioEngine,
    config: ClientConfig,
    private readonly events: SessionEvents,
  ) {
    const transportEvents = {
      onMessage: (m: ServerMessage) => this.onMessage(m),
      onAudioFrame: () => this.onFrame(),
      onStatus: (s: ConnectionStatus, detail?: string) => {
        this.status = s;
        events.onStatus(s, detail);
      },
      onMicrophoneError: (message: string) => events.onMicrophoneError(message),
    };
    const deps = { config, engine, events: transportEvents };
    this.transport = config.livekit ? new LiveKitTransport(deps) : new WebSocketTransport(deps);
  }

  /** Call from the click handler of "Start voice chat": the audio context is unlocked here. */
  static async start(config: ClientConfig, events: SessionEvents): Promise<ChatSession> {
    // The engine's callbacks reach the session created just after it.
    const ref: { session?: ChatSession } = {};
    const engine = await AudioEngine.create({
      onMicFrame: (pcm) => {
        const t = ref.session?.transport;
        if (t instanceof WebSocketTransport) t.sendMic(pcm);
      },
      onMicOnset: (at) => {
        if (ref.session) ref.session.lastOnsetAt = at;
      },
      onAudible: (at) => ref.session?.onAudible(at),
    });
    const session = new ChatSession(engine, config, events);
    ref.session = session;
    session.startMeters();
    try {
      await session.transport.connect();
    } catch (err) {
      session.close(); // no reconnect loop or open audio context behind a failed start
      throw err;
    }
    return session;
  }

  sendText(text: string): TextRecord {
    const record: TextRecord = { text, sentAt: performance.now(), sentIn: this.state, frames: 0 };
    this.texts.push(record);
    if (this.state === 'BARGED_IN') {
      // New text during a barge-in replaces what was held (and what was queued behind it).
      this.engine.flush();
      this.dropPending(record.sentAt);
      this.current = record;
    } else if (this.state === 'LISTENING') this.current = record;
    // While a reply plays the server queues the text: it becomes current when the reply is done.
    else this.pending.push(record);
    this.transport.send({ type: 'text', text, is_final: true });
    return record;
  }

  /** Asks for the voices the workers offer; the answer comes as a `voices` message. */
  requestVoices(): void {
    this.transport.send({ type: 'voices' });
  }

  /** The next reply in this voice (an unknown one gets an `error` and the voice stays). */
  switchVoice(voice: string): void {
    this.transport.send({ type: 'session_start', voice });
  }

  control(command: ControlCommand): void {
    if (command === 'STOP') {
      // Silent at once, whatever the network does; the next SPEAKING releases the output.
      this.engine.flush();
      this.engine.hold();
      this.stopped = true;
      this.markStopped(performance.now());
    } else if (command === 'PAUSE') this.engine.hold();
    this.transport.send({ type: 'control', command });
  }

  setGate(mode: GateMode): void {
    this.engine.setGate(mode);
  }

  playbackStats(): PlaybackStats {
    return this.engine.playbackStats();
  }

  private onFrame(): void {
    this.framesReceived += 1;
    const r = this.current;
    if (!r) return;
    r.frames += 1;
    if (r.firstFrameAt === undefined) {
      r.firstFrameAt = performance.now();
      this.events.onTextUpdate(r);
    }
  }

  private onAudible(at: number): void {
    const r = this.current;
    // LiveKit mode sees no frames: the first audible output after the text is its first audio.
    const started = r?.firstFrameAt !== undefined || (this.transport.kind === 'livekit' && r !== undefined && at > r.sentAt);
    if (r && started && r.firstAudibleAt === undefined) {
      r.firstAudibleAt = at;
      this.events.onTextUpdate(r);
    }
  }

  private onMessage(m: ServerMessage): void {
    const at = performance.now();
    this.messages.push({ ...m, at });
    if (this.messages.length > 2000) this.messages.splice(0, 1000);
    switch (m.type) {
      case 'session_start':
        this.sessionId = m.session_id;
        break;
      case 'vad':
        this.vadSpeech = m.speech;
        if (m.speech) this.lastVadAt = at;
        break;
      case 'state':
        this.onState(m.state, at);
        break;
      case 'done':
        this.engine.endOfUtterance();
        if (this.current) {
          this.current.doneAt = at;
          this.events.onTextUpdate(this.current);
        }
        // The server starts the next queued text at once; its frames follow this message.
        this.current = this.pending.shift() ?? this.current;
        break;
      case 'audio': {
        // JSON audio (a server that ignored audio_format: binary): same path as binary frames.
        const bytes = Uint8Array.from(atob(m.pcm), (c) => c.charCodeAt(0));
        this.engine.playPcm(bytes.buffer);
        this.onFrame();
        break;
      }
      default:
        break;
    }
    this.events.onMessage(m);
  }

  private onState(state: string, at: number): void {
    const previous = this.state;
    this.state = state;
    this.states.push({ state, at });
    const lastBargeIn = this.bargeIns[this.bargeIns.length - 1];
    if (previous === 'BARGED_IN' && lastBargeIn) lastBargeIn.then = state;
    if (state === 'BARGED_IN') {
      this.engine.hold();
      const record: BargeInRecord = { at, vadAt: this.lastVadAt, onsetAt: this.lastOnsetAt };
      this.bargeIns.push(record);
      void this.measureSilence(record);
    } else if (state === 'PAUSED') {
      this.engine.hold();
    } else if (state === 'SPEAKING') {
      this.stopped = false;
      this.engine.release();
    } else if (state === 'LISTENING' && (previous === 'BARGED_IN' || previous === 'PAUSED' || this.stopped)) {
      // The held utterance was stopped (policy, limit or STOP): what arrived of it until now is
      // dropped, and the output stays held until the next reply starts.
      this.engine.flush();
      this.markStopped(at);
    }
  }

  /** The reply was stopped: it, and every text queued behind it (the server drops them), end here. */
  private markStopped(at: number): void {
    const r = this.current;
    if (r && r.doneAt === undefined && r.stoppedAt === undefined) {
      r.stoppedAt = at;
      this.events.onTextUpdate(r);
    }
    this.dropPending(at);
  }

  private dropPending(at: number): void {
    for (const r of this.pending.splice(0)) {
      r.stoppedAt = at;
      this.events.onTextUpdate(r);
    }
  }

  /**
   * Once the hold has taken effect, where did the audio end? WebSocket mode asks the playback
   * worklet (exact, per sample). LiveKit mode has no worklet in the path: the analyser after the
   * gain is read once its 21 ms window has passed the hold.
   */
  private async measureSilence(record: BargeInRecord): Promise<void> {
    let last: number | null;
    if (this.transport.kind === 'websocket') {
      const stats = await this.engine.freshStats();
      last = stats.lastAudibleAt;
      record.heldMs = stats.buffered / 48;
      record.audibleSamplesAtHold = stats.audibleSamples;
    } else {
      await new Promise((resolve) => setTimeout(resolve, 60));
      last = this.analyserLastAudibleAt;
    }
    record.lastAudibleAt = last;
    record.outputLatencyMs = this.engine.outputLatencyMs();
    record.silentAfterMs = last === null ? 0 : Math.max(0, last - record.at);
    if (record.vadAt !== null) record.silentAfterVadMs = last === null ? 0 : Math.max(0, last - record.vadAt);
  }

  /** Meters and the analyser's own record of the last audible output (for the LiveKit path too). */
  private startMeters(): void {
    const data = new Float32Array(this.engine.outAnalyser.fftSize);
    const rate = this.engine.ctx.sampleRate;
    const threshold = 10 ** (AUDIBLE_DB / 20);
    this.meterTimer = window.setInterval(() => {
      const analyser = this.engine.outAnalyser;
      analyser.getFloatTimeDomainData(data);
      let sum = 0;
      let first = -1;
      let last = -1;
      for (let i = 0; i < data.length; i += 1) {
        const s = data[i] as number;
        sum += s * s;
        if (s > threshold || s < -threshold) {
          if (first < 0) first = i;
          last = i;
        }
      }
      const db = sum > 0 ? 10 * Math.log10(sum / data.length) : -120;
      if (db > this.peakOutputDb) this.peakOutputDb = db;
      const now = performance.now();
      if (last >= 0) this.analyserLastAudibleAt = now - ((data.length - 1 - last) / rate) * 1000;
      // The playback worklet reports first audio itself; the LiveKit path has only the analyser.
      if (first >= 0 && this.transport.kind === 'livekit') this.onAudible(now - ((data.length - 1 - first) / rate) * 1000);
    }, 10);
  }

  close(): void {
    window.clearInterval(this.meterTimer);
    this.transport.close();
    void this.engine.close();
  }
}
