/**
 * The orchestrator's agent in one LiveKit room: one session per user participant.
 *
 * For each user the agent publishes a speech track named `tts-<identity>` (48 kHz mono), reads the
 * user's microphone at 16 kHz into the session's VAD, and exchanges SPEC §5 JSON messages over
 * reliable data packets with topic `duplex` (the agent's are addressed to that user only).
 *
 * When a session starts. LiveKit announces a participant that publishes nothing up to ~3 s after
 * it joined (the server batches such announcements), and until then its data packets arrive
 * without a sender. So a session starts when the user participant appears, when it publishes its
 * microphone, or when a `duplex` packet arrives from an unannounced sender while exactly one
 * identity was given a token for this room and has not appeared yet (that packet is the user's).
 * The session greets with `session_start` at once; a user `session_start` is answered with
 * `session_start` and the current `state`, so a page that missed the greeting can catch up.
 *
 * When it ends. The user leaves (TRANSPORT closed), sends `session_end`, or the agent leaves the
 * room: the agent leaves when no session is left and no token holder is still expected, a
 * user-less room after `idleTimeoutMs`, or on shutdown (`session_end` `server_shutdown` first).
 */
import { randomUUID } from 'node:crypto';
import { ParticipantKind, Room, RoomEvent, TrackKind, type RemoteParticipant, type RemoteTrack } from '@livekit/rtc-node';
import type { ClientConnection, SessionHandle } from '../session-transport.js';
import { errorMessage, protocolErrorMessage, sessionEndMessage, sessionStartMessage, stateMessage } from '../websocket/protocol.js';
import type { OutputFrame, ParsedClientFrame, ProtocolLimits, ServerMessage } from '../websocket/protocol.js';
import type { ClientState } from '../../machines/session-machine.js';
import { DATA_TOPIC, decodeClientPacket, encodeServerPacket } from './data-channel.js';
import { feedMicrophone, type MicrophoneFeed } from './microphone.js';
import { TtsTrack } from './tts-track.js';

/** A user in a room, as its session sees it. */
export interface LiveKitConnection extends ClientConnection {
  readonly room: string;
  readonly identity: string;
}

/** A session handle that may report its client-visible state (answering a user `session_start`). */
export interface LiveKitSessionHandle extends SessionHandle {
  clientState?(): ClientState;
}

export type LiveKitSessionFactory = (conn: LiveKitConnection) => LiveKitSessionHandle;

export interface AgentLogger {
  info(o: object, m?: string): void;
  warn(o: object, m?: string): void;
  error(o: object, m?: string): void;
}

export interface AgentRoomOptions {
  room: string;
  url: string;
  /** The agent's token for this room. */
  token: string;
  agentIdentity: string;
  idleTimeoutMs: number;
  sessionFactory: LiveKitSessionFactory;
  limits?: Partial<ProtocolLimits>;
  log: AgentLogger;
  /** Called once when the agent has left the room (or lost it). */
  onClosed(agent: AgentRoom): void;
  /** How long joining may take before it counts as failed. Default 10 s. */
  joinTimeoutMs?: number;
}

class UserSession {
  readonly sessionId = randomUUID();
  readonly since = performance.now();
  handle: LiveKitSessionHandle | undefined;
  closed = false;
  /** The participant has been announced (it cannot be if it only ever sent data). */
  seen = false;
  private sendChain: Promise<void> = Promise.resolve();
  readonly conn: LiveKitConnection;

  constructor(
    readonly identity: string,
    readonly tts: TtsTrack,
    private readonly agent: AgentRoom,
  ) {
    const isOpen = () => !this.closed;
    this.conn = {
      room: agent.name,
      identity,
      sessionId: this.sessionId,
      get isOpen() {
        return isOpen();
      },
      send: (message) => this.send(message),
      sendAudio: (frame: OutputFrame) => {
        if (this.closed) return false;
        this.tts.send(frame.pcm);
        return true;
      },
      close: (reason) => {
        this.send(sessionEndMessage(this.sessionId, reason));
        agent.endSession(this, reason);
      },
      holdAudio: () => this.tts.hold(),
      resumeAudio: () => this.tts.resume(),
      clearAudio: () => this.tts.clear(),
    };
  }

  /** Data packets go one after another, so messages keep their order. */
  send(message: ServerMessage): boolean {
    if (this.closed) return false;
    const bytes = encodeServerPacket(message);
    this.sendChain = this.sendChain
      .then(() => this.agent.publish(bytes, this.identity))
      .catch((err: unknown) => this.agent.log.warn({ err: String(err), identity: this.identity }, 'data packet to the user failed'));
    return true;
  }

  /** Settles when every message sent so far has been handed to LiveKit. */
  flushed(): Promise<void> {
    return this.sendChain;
  }

  /** Runs a handler; a throw or rejection becomes an `internal_error` message, as on WebSocket. */
  safely(what: string, fn: () => void | Promise<void>): Promise<void> {
    const report = (err: unknown): void => {
      this.agent.log.error({ err: String(err), identity: this.identity }, `session ${what} failed`);
      this.send(errorMessage('internal_error', `internal error while handling ${what}`));
    };
    try {
      const result = fn();
      if (result && typeof (result as Promise<void>).then === 'function') return (result as Promise<void>).then(undefined, report);
    } catch (err) {
      report(err);
    }
    return Promise.resolve();
  }

  deliver(parsed: ParsedClientFrame): void {
    const handle = this.handle;
    if (this.closed || !handle) return;
    if (parsed.kind === 'error') {
      this.send(protocolErrorMessage(parsed.error));
      return;
    }
    if (parsed.kind === 'audio') return; // not produced for data packets
    const message = parsed.message;
    if (message.type === 'session_start') {
      // The id is the server's (there is no connection to re-key); audio_format has no meaning here.
      this.send(sessionStartMessage(this.sessionId));
      const state = handle.clientState?.();
      if (state) this.send(stateMessage(state));
    }
    void this.safely(message.type, () => handle.onMessage(message));
  }
}

export class AgentRoom {
  readonly room = new Room();
  private readonly sessions = new Map<string, UserSession>();
  /** Sessions being set up (their track being published), by identity. */
  private readonly starting = new Map<string, Promise<UserSession | undefined>>();
  /** Identities given a token for this room and not announced yet → when to stop waiting. */
  private readonly expected = new Map<string, number>();
  private readonly microphones = new Map<string, { identity: string; feed: MicrophoneFeed }>();
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private joinedAt = 0;

  constructor(private readonly opts: AgentRoomOptions) {}

  get name(): string {
    return this.opts.room;
  }

  get log(): AgentLogger {
    return this.opts.log;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Live sessions of this room (identity → session id). */
  sessionIds(): Map<string, string> {
    return new Map([...this.sessions].map(([identity, s]) => [identity, s.sessionId]));
  }

  async join(): Promise<void> {
    const r = this.room;
    r.on(RoomEvent.ParticipantConnected, (p) => {
      if (!this.isUser(p)) return;
      this.markSeen(p.identity);
      void this.sessionFor(p.identity);
    });
    r.on(RoomEvent.ParticipantDisconnected, (p) => {
      if (!this.isUser(p)) return;
      this.expected.delete(p.identity);
      for (const [sid, m] of this.microphones) {
        if (m.identity === p.identity) {
          m.feed.close();
          this.microphones.delete(sid);
        }
      }
      const s = this.sessions.get(p.identity);
      if (s) this.endSession(s, 'participant_left');
      else void this.starting.get(p.identity)?.then((late) => late && this.endSession(late, 'participant_left'));
    });
    r.on(RoomEvent.TrackSubscribed, (track, _publication, p) => {
      if (!this.isUser(p) || track.kind !== TrackKind.KIND_AUDIO) return;
      this.markSeen(p.identity);
      void this.sessionFor(p.identity);
      this.feedMicrophone(track, p.identity);
    });
    r.on(RoomEvent.TrackUnsubscribed, (track) => {
      const sid = track.sid ?? '';
      this.microphones.get(sid)?.feed.close();
      this.microphones.delete(sid);
    });
    r.on(RoomEvent.DataReceived, (payload, participant, _kind, topic) => {
      if (topic !== DATA_TOPIC || this.closed) return;
      if (participant && !this.isUser(participant)) return;
      const identity = participant?.identity ?? this.unannouncedSender();
      if (!identity) {
        this.log.warn({ room: this.name }, 'data packet from an unannounced participant that cannot be told apart; dropped');
        return;
      }
      const parsed = decodeClientPacket(payload, this.opts.limits);
      void this.sessionFor(identity).then((s) => s?.deliver(parsed));
    });
    r.on(RoomEvent.Disconnected, (reason) => {
      if (this.closed) return;
      this.log.warn({ room: this.name, reason }, 'agent lost its LiveKit room');
      void this.close('livekit_disconnected', false);
    });

    const timeoutMs = this.opts.joinTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        r.connect(this.opts.url, this.opts.token, { autoSubscribe: true, dynacast: false }),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer from LiveKit at ${this.opts.url} within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (err) {
      this.closed = true;
      void r.disconnect().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    this.joinedAt = performance.now();
    this.log.info({ room: this.name }, 'agent joined LiveKit room');
    for (const p of r.remoteParticipants.values()) {
      if (!this.isUser(p)) continue;
      this.markSeen(p.identity);
      void this.sessionFor(p.identity);
    }
    this.armIdle();
  }

  /** A token was given to `identity` for this room: wait for it (and attribute its early packets). */
  expect(identity: string): void {
    if (this.closed) return;
    if (!this.room.remoteParticipants.has(identity)) this.expected.set(identity, performance.now() + this.opts.idleTimeoutMs);
    this.armIdle();
  }

  /** Sends one data packet to one user. */
  async publish(bytes: Uint8Array, identity: string): Promise<void> {
    const local = this.room.localParticipant;
    if (!local) return;
    await local.publishData(bytes, { reliable: true, topic: DATA_TOPIC, destination_identities: [identity] });
  }

  private isUser(p: RemoteParticipant): boolean {
    return p.identity !== this.opts.agentIdentity && p.kind !== ParticipantKind.AGENT;
  }

  private markSeen(identity: string): void {
    this.expected.delete(identity);
    const s = this.sessions.get(identity);
    if (s) s.seen = true;
  }

  /** The one expected identity that has not been announced, if there is exactly one. */
  private unannouncedSender(): string | undefined {
    const candidates = [...this.expected.keys()].filter((id) => !this.room.remoteParticipants.has(id));
    return candidates.length === 1 ? candidates[0] : undefined;
  }

  /** The user's session, set up on first use. */
  private sessionFor(identity: string): Promise<UserSession | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    const live = this.sessions.get(identity);
    if (live) return Promise.resolve(live);
    let pending = this.starting.get(identity);
    if (!pending) {
      pending = this.startSession(identity).finally(() => this.starting.delete(identity));
      this.starting.set(identity, pending);
    }
    return pending;
  }

  private async startSession(identity: string): Promise<UserSession | undefined> {
    let tts: TtsTrack;
    try {
      tts = await TtsTrack.publish(this.room, `tts-${identity}`);
    } catch (err) {
      this.log.error({ err: String(err), room: this.name, identity }, 'could not publish the speech track');
      return undefined;
    }
    if (this.closed) {
      await tts.close();
      return undefined;
    }
    const s = new UserSession(identity, tts, this);
    s.seen = this.room.remoteParticipants.has(identity);
    this.sessions.set(identity, s);
    try {
      s.handle = this.opts.sessionFactory(s.conn);
    } catch (err) {
      this.log.error({ err: String(err), room: this.name, identity }, 'session factory failed');
      s.send(errorMessage('internal_error', 'could not create a session'));
      s.conn.close('internal_error');
      return undefined;
    }
    s.send(sessionStartMessage(s.sessionId));
    this.log.info({ room: this.name, identity, session: s.sessionId }, 'LiveKit session started');
    return s;
  }

  private feedMicrophone(track: RemoteTrack, identity: string): void {
    const sid = track.sid ?? `${identity}-${randomUUID()}`;
    this.microphones.get(sid)?.feed.close();
    const feed = feedMicrophone(
      track,
      async (pcm) => {
        // Whichever session the user has now (a new one after a client session_end).
        const s = this.sessions.get(identity);
        const handle = s?.handle;
        if (s && handle && !s.closed) await s.safely('audio', () => handle.onAudio(pcm));
      },
      (err) => this.log.warn({ err: String(err), identity }, 'microphone stream failed'),
    );
    this.microphones.set(sid, { identity, feed });
  }

  /** Ends one session: TRANSPORT closed for its actor, its track unpublished. */
  endSession(s: UserSession, reason: string): void {
    if (s.closed) return;
    s.closed = true;
    if (this.sessions.get(s.identity) === s) this.sessions.delete(s.identity);
    const handle = s.handle;
    if (handle) {
      try {
        handle.onClose();
      } catch (err) {
        this.log.error({ err: String(err) }, 'session onClose failed');
      }
    }
    this.log.info({ room: this.name, identity: s.identity, session: s.sessionId, reason }, 'LiveKit session ended');
    // The last messages (session_end) leave before the track goes.
    void s.flushed().then(() => s.tts.close());
    queueMicrotask(() => this.checkIdle());
  }

  private armIdle(): void {
    if (this.closed) return;
    clearTimeout(this.idleTimer);
    const now = performance.now();
    const deadlines = [...this.expected.values()];
    for (const s of this.sessions.values()) if (!s.seen) deadlines.push(s.since + this.opts.idleTimeoutMs);
    if (this.sessions.size === 0 && deadlines.length === 0) deadlines.push(this.joinedAt + this.opts.idleTimeoutMs);
    if (deadlines.length === 0) return; // every session's user is here: their leaving ends them
    const next = Math.max(0, Math.min(...deadlines) - now);
    this.idleTimer = setTimeout(() => this.checkIdle(), next + 5);
    this.idleTimer.unref();
  }

  /** Drops stale expectations and never-announced sessions; leaves the room when nothing is left. */
  private checkIdle(): void {
    if (this.closed) return;
    const now = performance.now();
    for (const [identity, until] of this.expected) if (until <= now) this.expected.delete(identity);
    for (const s of [...this.sessions.values()]) {
      if (!s.seen && !this.room.remoteParticipants.has(s.identity) && s.since + this.opts.idleTimeoutMs <= now) this.endSession(s, 'participant_never_joined');
    }
    if (this.sessions.size === 0 && this.starting.size === 0 && this.expected.size === 0) {
      void this.close('idle', false);
      return;
    }
    this.armIdle();
  }

  /** Leaves the room; with `notify`, each user gets `session_end` with `reason` first. */
  async close(reason: string, notify = true): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    const sessions = [...this.sessions.values()];
    for (const s of sessions) {
      if (notify) s.send(sessionEndMessage(s.sessionId, reason));
      this.closedSession(s, reason);
    }
    for (const m of this.microphones.values()) m.feed.close();
    this.microphones.clear();
    await Promise.all(sessions.map((s) => s.flushed()));
    await Promise.all(sessions.map((s) => s.tts.close()));
    await this.room.disconnect().catch(() => undefined);
    this.log.info({ room: this.name, reason }, 'agent left LiveKit room');
    this.opts.onClosed(this);
  }

  /** endSession without the idle check or track close (the room is going). */
  private closedSession(s: UserSession, reason: string): void {
    if (s.closed) return;
    s.closed = true;
    this.sessions.delete(s.identity);
    try {
      s.handle?.onClose();
    } catch (err) {
      this.log.error({ err: String(err) }, 'session onClose failed');
    }
    this.log.info({ room: this.name, identity: s.identity, session: s.sessionId, reason }, 'LiveKit session ended');
  }
}
