import type { ClientDuplexStream } from '@grpc/grpc-js';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { OutputPacer, type PacerStats } from '../actors/pacer/output-pacer.js';
import { chooseWorker, type WorkerDiscovery } from '../actors/synthesis/discovery.js';
import type { WorkerClient } from '../actors/synthesis/worker-client.js';
import { Command } from '../actors/synthesis/worker-client.js';
import type { StreamingVad } from '../actors/vad/detector.js';
import { clientStateOf, createSessionMachine, type ClientState, type SessionInput, type SessionMachine } from '../machines/session-machine.js';
import { doneMessage, errorMessage, stateMessage, vadMessage, voicesMessage, type VoiceInfo } from '../transports/websocket/protocol.js';
import type { ClientConnection, SessionHandle } from '../transports/session-transport.js';
import type { ClientMessage } from '../transports/websocket/protocol.js';
import type { AudioFrame, TextChunk } from '../workers/tts/grpc/generated/tts.js';
import type { OrchestratorMetrics } from './metrics.js';

/** How long a session avoids a worker whose stream failed. */
export const FAILED_WORKER_RETRY_MS = 5000;

export interface SessionRuntimeDeps {
  conn: ClientConnection;
  discovery: WorkerDiscovery;
  clients: (addr: string) => WorkerClient;
  voice: string;
  language: string;
  machineInput: SessionInput;
  createVad?: () => Promise<StreamingVad>;
  leadMs: number;
  /** How long this session avoids a worker whose stream failed (default FAILED_WORKER_RETRY_MS). */
  failedWorkerRetryMs?: number;
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void };
  /** Inspection (e.g. @statelyai/inspect's `inspect`), never given audio. */
  inspect?: (event: InspectionEvent) => void;
  /** Where to record latency, jitter, underrun and transition metrics (none if absent). */
  metrics?: OrchestratorMetrics;
  /**
   * Tell the session actor when the worker has finished an utterance (UTTERANCE.SYNTHESIZED), so
   * the next one is synthesised while this one's audio drains. Default true; the path tests turn
   * it off to deliver that event where a path puts it.
   */
  reportSynthesized?: boolean;
}

/** The timing of the last barge-in (performance.now() values, this process). */
export interface BargeInTiming {
  /** The VAD's speech-start decision. */
  vadEdgeAt: number;
  /** The pacer's hold. */
  holdAt: number;
  /** The last frame handed to the client before the hold, if any was sent after the edge. */
  lastFrameAt: number | undefined;
  /** max(0, lastFrameAt − vadEdgeAt). */
  latencyMs: number;
}

interface WorkerBinding {
  client: WorkerClient;
  sessionId: string;
}

interface Synthesis {
  utteranceId: string;
  /** The text this stream speaks (after a failover: the rest of the utterance). */
  text: string;
  call: ClientDuplexStream<TextChunk, AudioFrame>;
  stopped: boolean;
  /** `text_done` of the last frame received: `text` up to here is in the pacer already. */
  textDone: number;
  /** The final frame came: all of the stream's audio is in the pacer. */
  complete?: boolean;
  /** Started while the utterance before it still played (no first-audio latency of its own). */
  ahead: boolean;
}

/**
 * One client's session: the session actor (the pure machine with real I/O provided), its worker
 * session (opened on connect, so the first reply pays no set-up), the output pacer, and the VAD
 * on the client's microphone. Each utterance is one gRPC Synthesize stream.
 */
export class SessionRuntime implements SessionHandle {
  readonly actor: Actor<SessionMachine>;
  private readonly pacer: OutputPacer;
  private worker: Promise<WorkerBinding> | undefined;
  private synthesis: Synthesis | undefined;
  private vad: Promise<StreamingVad> | undefined;
  /** Workers whose stream failed in this session → when; skipped for FAILED_WORKER_RETRY_MS. */
  private readonly failedAt = new Map<string, number>();
  // ---- measurements only (never read by the session's behaviour) ----
  /** The first TEXT not yet taken by a synthesis (FAL start). */
  private textAt: number | undefined;
  /** Utterance id → FAL start, until that utterance's first frame is sent. */
  private readonly falStart = new Map<string, number>();
  private lastFrameAt: number | undefined;
  /** A VAD edge being handled (set around the VAD.SPEECH_START send). */
  private vadEdgeAt: number | undefined;
  /** The client is gone: the VAD's closing flush and late audio must not reach the stopped actor. */
  private closed = false;
  private bargeIn: BargeInTiming | undefined;
  private jitterSeen = 0;

  constructor(private readonly deps: SessionRuntimeDeps) {
    this.voice = deps.voice;
    const metrics = deps.metrics;
    this.pacer = new OutputPacer({
      leadMs: deps.leadMs,
      sink: (frame) => {
        void deps.conn.sendAudio(frame);
        const now = performance.now();
        this.lastFrameAt = now;
        const start = frame.utteranceId === undefined ? undefined : this.falStart.get(frame.utteranceId);
        if (start !== undefined) {
          this.falStart.delete(frame.utteranceId as string);
          metrics?.firstAudioLatency.observe(now - start);
        }
      },
      ...(metrics && { onUnderrun: () => metrics.underruns.inc() }),
      onDrained: (info) => {
        this.recordJitter();
        if (!info.utteranceId) return;
        deps.conn.send(doneMessage(info.utteranceId));
        this.actor.send({ type: 'UTTERANCE.DONE', utteranceId: info.utteranceId });
      },
    });
    const machine = createSessionMachine({
      startSynthesis: ({ utteranceId, text, ahead }) => void this.startSynthesis(utteranceId, text, false, ahead === true),
      pauseWorker: () => {
        this.pacer.hold(); // nothing more leaves the orchestrator from here on
        deps.conn.holdAudio?.(); // nor plays from a transport's own buffer (LiveKit's AudioSource)
        this.recordBargeIn();
        void this.control(Command.PAUSE);
      },
      resumeWorker: () => {
        void this.control(Command.RESUME);
        deps.conn.resumeAudio?.(); // the frames the hold took back from the transport's buffer first
        // Released on entering SPEAKING (next in this same step), so `state: SPEAKING` precedes its audio.
        this.releaseOnSpeaking = true;
      },
      stopWorker: () => {
        this.pacer.flush();
        deps.conn.clearAudio?.();
        this.recordJitter();
        if (this.synthesis) this.falStart.delete(this.synthesis.utteranceId);
        if (this.synthesis) this.synthesis.stopped = true;
        this.stopping = this.control(Command.STOP);
      },
      endWorkerSession: () => void this.endWorkerSession(),
      notifyState: ({ state }) => {
        deps.conn.send(stateMessage(state));
        if (state === 'LISTENING' && this.pacer.isHeld) {
          // A held (paused or barged-in) utterance ended without a STOP, e.g. by a worker error:
          // its audio is dropped and the hold lifted, or the next reply would never play.
          this.pacer.flush();
          deps.conn.clearAudio?.();
          if (this.synthesis) this.synthesis.stopped = true; // frames still in flight are dropped too
        }
        if (state === 'SPEAKING' && this.releaseOnSpeaking) {
          this.releaseOnSpeaking = false;
          this.pacer.release();
        }
      },
      reportError: ({ message }) => deps.conn.send(errorMessage('worker_error', message)),
    });
    const inspect = metrics ? this.transitionRecorder(metrics, deps.inspect) : deps.inspect;
    this.actor = createActor(machine, { input: deps.machineInput, ...(inspect && { inspect }) });
    // Started after the transport has greeted the client, so `session_start` comes before the
    // first `state` message; events sent meanwhile wait in the actor's mailbox.
    queueMicrotask(() => this.actor.start());
    // Prewarm. If it fails, the next utterance opens a worker session afresh (not the failed
    // promise), and a session still LISTENING hears of it now (SPEC §6: any | worker error).
    const prewarm = this.openWorker();
    this.worker = prewarm;
    prewarm.catch((err: unknown) => {
      deps.log.warn({ err: String(err) }, 'No TTS worker yet');
      if (this.worker !== prewarm) return; // a voice switch took over
      this.worker = undefined;
      // An utterance waiting on the prewarm reports the failure itself.
      if (this.actor.getSnapshot().matches('LISTENING')) {
        this.actor.send({ type: 'WORKER.ERROR', message: `no TTS worker session: ${(err as Error).message}`, retryable: true });
      }
    });
  }

  /** Pacer statistics (frames sent, underruns, jitter) of this session. */
  pacerStats(): PacerStats {
    return this.pacer.stats();
  }

  /** The timing of the last barge-in hold caused by the VAD, if there was one. */
  get lastBargeIn(): BargeInTiming | undefined {
    return this.bargeIn;
  }

  /**
   * Counts client-visible state changes. Each snapshot the root actor emits carries the event
   * that produced it, so the label is exact (also for delayed and internal events).
   */
  private transitionRecorder(metrics: OrchestratorMetrics, next?: (event: InspectionEvent) => void): (event: InspectionEvent) => void {
    let previous: ClientState | undefined;
    return (ev) => {
      next?.(ev);
      if (ev.type !== '@xstate.snapshot' || ev.actorRef !== this.actor) return;
      const value = (ev.snapshot as { value?: unknown }).value;
      if (value === undefined) return;
      let state: ClientState;
      try {
        state = clientStateOf(value);
      } catch {
        return; // not a client-visible state
      }
      if (previous !== undefined && previous !== state) metrics.transitions.inc({ from: previous, to: state, event: ev.event.type });
      previous = state;
    };
  }

  private recordBargeIn(): void {
    if (this.vadEdgeAt === undefined) return;
    const vadEdgeAt = this.vadEdgeAt;
    this.vadEdgeAt = undefined;
    const after = this.lastFrameAt !== undefined && this.lastFrameAt > vadEdgeAt ? this.lastFrameAt : undefined;
    const latencyMs = after === undefined ? 0 : after - vadEdgeAt;
    this.bargeIn = { vadEdgeAt, holdAt: performance.now(), lastFrameAt: after, latencyMs };
    this.deps.metrics?.bargeInLatency.observe(latencyMs);
  }

  /** Observes the pacer jitter samples added since the last call. */
  private recordJitter(): void {
    const metrics = this.deps.metrics;
    if (!metrics) return;
    const count = this.pacer.stats().jitter.count;
    const fresh = count - this.jitterSeen;
    this.jitterSeen = count;
    if (fresh <= 0) return;
    const samples = this.pacer.jitterSamples();
    for (const j of samples.slice(Math.max(0, samples.length - fresh))) metrics.outputJitter.observe(j);
  }

  /** The session's voice: the configured default until the client asks for another. */
  private voice: string;
  /** The last voice switch asked for, settled once the worker has taken or refused it. */
  private switching: Promise<void> = Promise.resolve();

  /**
   * `session_start` with a voice: the next utterance uses it. The worker session is reopened with
   * that model at once (so the switch is checked now, not at the next text); an unknown voice
   * gets an `error` and the session keeps its voice. A text that arrives while the switch is
   * pending waits for it, and is spoken in the kept voice if the switch fails (it used to get the
   * failed switch's worker error and be dropped).
   */
  private async switchVoice(voice: string): Promise<void> {
    if (voice === this.voice) return;
    const previous = this.voice;
    const old = this.worker;
    this.voice = voice;
    const opening = this.openWorker(voice);
    const kept = opening.catch(() => {
      if (this.voice === voice) this.voice = previous; // unless a later switch took over
      return old ?? this.openWorker(previous);
    });
    this.worker = kept;
    try {
      await opening;
    } catch (err) {
      // The worker's reason (which names its voice directory) goes to the log, not to the client.
      this.deps.log.warn({ voice, err: String(err) }, 'Voice switch refused');
      this.deps.conn.send(errorMessage('unknown_voice', `voice ${JSON.stringify(voice)} is not available; {"type":"voices"} lists the voices`));
      return;
    }
    if (old) void old.then((b) => b.client.endSession(b.sessionId)).catch(() => undefined);
  }

  /**
   * Workers to skip: those that failed this session recently. Not for good: a worker that came
   * back (a restart, a brief overload) serves the session again, which matters most with one
   * static worker.
   */
  private recentlyFailed(): Set<string> {
    const now = performance.now();
    for (const [addr, at] of this.failedAt) if (now - at >= (this.deps.failedWorkerRetryMs ?? FAILED_WORKER_RETRY_MS)) this.failedAt.delete(addr);
    return new Set(this.failedAt.keys());
  }

  /** A worker session for `voice` (read now: a switch during the lookup must not change it). */
  private async openWorker(voice = this.voice): Promise<WorkerBinding> {
    const workers = await this.deps.discovery.list();
    const info = chooseWorker(workers, { language: this.deps.language, model: voice, exclude: this.recentlyFailed() });
    if (!info) throw new Error('no healthy TTS worker is available');
    const client = this.deps.clients(info.addr);
    const sessionId = await client.startSession(voice);
    return { client, sessionId };
  }

  private async control(command: Command): Promise<void> {
    const s = this.synthesis;
    if (!s || !this.worker) return;
    try {
      const w = await this.worker;
      await w.client.control(w.sessionId, command);
    } catch {
      // FAILED_PRECONDITION: the synthesis already ended; the pacer state is what matters here
    }
  }

  /** A resume waiting for the SPEAKING message before the pacer lets audio out again. */
  private releaseOnSpeaking = false;
  /**
   * The last STOP sent to the worker. A new synthesis waits for its answer, so the worker has
   * handled the STOP before the next stream reaches it (it refuses a second synthesis in a session
   * while one is active there; sent together, the two could be handled in either order).
   */
  private stopping: Promise<void> = Promise.resolve();

  /** Client-facing frame sequence of the current utterance (continuous across a failover). */
  private clientSequence = 0;

  private async startSynthesis(utteranceId: string, text: string, continuation = false, ahead = false): Promise<void> {
    if (!continuation) this.clientSequence = 0;
    // Audio synthesised ahead plays on from the utterance before it: no first-audio latency.
    if (!ahead && !this.falStart.has(utteranceId)) this.falStart.set(utteranceId, this.textAt ?? performance.now());
    this.textAt = undefined;
    let binding: WorkerBinding;
    try {
      this.worker ??= this.openWorker();
      binding = await this.worker;
    } catch (err) {
      this.worker = undefined;
      this.actor.send({ type: 'WORKER.ERROR', message: (err as Error).message, retryable: true });
      return;
    }
    await this.stopping;
    // While waiting, the utterance may have been stopped or replaced, or the session closed.
    const snapshot = this.actor.getSnapshot();
    const { utterance, ahead: next } = snapshot.context;
    if (snapshot.status !== 'active' || (utterance?.id !== utteranceId && next?.id !== utteranceId)) return;
    // Synthesised ahead, it is heard once the pacer has sent what is queued before it: the worker
    // serves first the streams whose audio is needed sooner (a new reply in another session).
    const startAfterMs = ahead ? this.pacer.queuedMs : undefined;
    const call = binding.client.synthesize(binding.sessionId, text, utteranceId, startAfterMs);
    const synthesis: Synthesis = { utteranceId, text, call, stopped: false, textDone: 0, ahead };
    this.synthesis = synthesis;
    call.on('data', (frame: AudioFrame) => {
      // A stream that is no longer the session's current one (stopped, failed over, or replaced)
      // never reaches the pacer.
      if (synthesis.stopped || this.synthesis !== synthesis) return;
      if (frame.audio.length > 0) {
        this.clientSequence += 1;
        this.pacer.enqueue({ pcm: frame.audio, sequence: this.clientSequence, utteranceId });
      }
      synthesis.textDone = Math.max(synthesis.textDone, frame.textDone);
      if (!frame.isFinal) return;
      if (frame.stats?.stopped) {
        // Stopped, but not by this session (its own STOP marks the synthesis stopped first):
        // the worker is shutting down. The rest of the text goes to another worker.
        this.onWorkerLost(synthesis, binding, new Error('it ended the stream: shutting down'));
        return;
      }
      this.pacer.end(utteranceId);
      synthesis.complete = true;
    });
    // Reported at the stream's status, not its last frame: the worker frees the session for the
    // next synthesis in the same turn as it ends the stream, after writing that frame.
    call.on('status', () => {
      if (synthesis.complete && !synthesis.stopped && this.synthesis === synthesis) this.onSynthesized(utteranceId);
    });
    call.on('error', (err: Error) => {
      if (synthesis.stopped) return;
      this.onWorkerLost(synthesis, binding, err);
    });
  }

  /** The last utterance whose audio the worker finished (all of it in the pacer). */
  lastSynthesized: string | undefined;

  private onSynthesized(utteranceId: string): void {
    this.lastSynthesized = utteranceId;
    if (this.deps.reportSynthesized !== false && !this.closed) this.actor.send({ type: 'UTTERANCE.SYNTHESIZED', utteranceId });
  }

  /**
   * The worker failed mid-utterance: tell the client, and continue the text not yet received on
   * another healthy worker (from the start of the interrupted sentence; the audio already queued
   * keeps playing). With no other worker, the session reports the error and returns to LISTENING.
   */
  private onWorkerLost(synthesis: Synthesis, binding: WorkerBinding, err: Error): void {
    this.deps.log.warn({ err: err.message, worker: binding.client.addr }, 'Worker stream failed');
    this.failedAt.set(binding.client.addr, performance.now());
    this.worker = undefined;
    // The worker may still be alive (a lost stream, not a dead process): free its session slot.
    binding.client.endSession(binding.sessionId).catch(() => undefined);
    synthesis.stopped = true;
    const rest = synthesis.text.slice(synthesis.textDone);
    if (rest.trim().length === 0) {
      this.pacer.end(synthesis.utteranceId);
      this.onSynthesized(synthesis.utteranceId);
      return;
    }
    void this.deps.discovery
      .list()
      // Never the worker that just failed, whatever the retry window: that is for later replies.
      .then((workers) => chooseWorker(workers, { language: this.deps.language, model: this.voice, exclude: this.recentlyFailed().add(binding.client.addr) }))
      .catch(() => undefined)
      .then((next) => {
        if (!next) {
          this.pacer.end(synthesis.utteranceId);
          this.actor.send({ type: 'WORKER.ERROR', message: `TTS worker failed: ${err.message}`, retryable: true });
          return;
        }
        this.deps.conn.send(errorMessage('worker_error', `TTS worker ${binding.client.addr} failed (${err.message}); continuing on ${next.addr}`));
        void this.startSynthesis(synthesis.utteranceId, rest, true, synthesis.ahead);
      });
  }

  private async endWorkerSession(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    try {
      const b = await w;
      await b.client.endSession(b.sessionId);
    } catch {
      // the worker is gone or the session already ended
    }
  }

  onMessage(message: ClientMessage): void {
    if (message.type === 'text') this.textAt ??= performance.now();
    if (message.type === 'text') this.actor.send({ type: 'TEXT', text: message.text, isFinal: message.is_final ?? true });
    else if (message.type === 'control') this.actor.send({ type: 'CONTROL', command: message.command });
    else if (message.type === 'session_start' && message.voice) this.switching = this.switchVoice(message.voice);
    else if (message.type === 'voices') void this.sendVoices();
    else if (message.type === 'session_end') this.deps.conn.close('client_ended');
  }

  /** Every voice some known worker offers (ListModels on each), for `/voice` in the clients. */
  private async sendVoices(): Promise<void> {
    const workers = await this.deps.discovery.list().catch(() => []);
    const byId = new Map<string, VoiceInfo>();
    const results = await Promise.allSettled(workers.map((w) => this.deps.clients(w.addr).listModels()));
    for (const r of results) {
      if (r.status !== 'fulfilled') continue;
      for (const m of r.value) {
        const known = byId.get(m.modelId);
        byId.set(m.modelId, { id: m.modelId, language: m.language, loaded: (known?.loaded ?? false) || m.loaded });
      }
    }
    if (byId.size === 0 && results.length > 0) {
      this.deps.conn.send(errorMessage('worker_error', 'no TTS worker answered the voice listing'));
      return;
    }
    const voices = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
    // A list asked for right behind a switch names the voice the session ends up with, not one
    // the worker may still refuse.
    await this.switching;
    this.deps.conn.send(voicesMessage(this.voice, voices));
  }

  async onAudio(pcm: Buffer): Promise<void> {
    if (!this.deps.createVad || this.closed) return;
    this.vad ??= this.deps.createVad().then((vad) => {
      vad.on('speech_start', (e) => {
        if (this.closed) return;
        this.deps.conn.send(vadMessage(true));
        this.vadEdgeAt = performance.now();
        this.actor.send({ type: 'VAD.SPEECH_START', at: e.at });
        this.vadEdgeAt = undefined; // the hold, if any, happened in the send
      });
      vad.on('speech_end', (e) => {
        if (this.closed) return; // closing the VAD ends a speech segment still open
        this.deps.conn.send(vadMessage(false));
        const barged = this.actor.getSnapshot().matches('BARGED_IN');
        this.actor.send({ type: 'VAD.SPEECH_END', at: e.at, speechMs: e.speechMs });
        // One line per barge-in: what an operator needs to tune barge_in.short_interjection_ms.
        if (barged) this.deps.log.info({ speechMs: Math.round(e.speechMs), resumed: this.actor.getSnapshot().matches('SPEAKING') }, 'Barge-in ended');
      });
      return vad;
    });
    await (await this.vad).push(pcm);
  }

  onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.actor.send({ type: 'TRANSPORT.CLOSED' });
    this.pacer.dispose();
    this.recordJitter();
    void this.vad?.then((v) => v.close());
    this.actor.stop();
  }
}
