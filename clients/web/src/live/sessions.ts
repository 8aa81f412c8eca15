/**
 * The live view's model: every session actor, its current state and its event log, built from
 * the orchestrator's inspection events (`@statelyai/inspect` over ws://<host>/inspect) and from
 * `GET /sessions` (which names each session's actor, so a view opened late still lists every
 * session and can show the transport's session id). Pure, so it is unit-tested in Node.
 */
export interface LogEntry {
  /** Milliseconds since the epoch (the orchestrator's clock). */
  at: number;
  /** `event` (an event the actor received) or `state` (the state it moved to). */
  kind: 'event' | 'state';
  type: string;
  detail: string;
}

export interface LiveSession {
  /** The actor's inspection id (`x:3`). */
  actorId: string;
  /** The transport's session id, once `/sessions` has named it. */
  sessionId: string | null;
  /** Dotted state path: `LISTENING`, `SPEAKING.playing`. */
  state: string;
  /** The transition just taken. */
  last: { from: string; to: string; event: string; at: number } | null;
  firstSeen: number;
  updatedAt: number;
  ended: boolean;
  log: LogEntry[];
}

export interface InspectionMessage {
  type: string;
  sessionId?: string;
  parentId?: string;
  createdAt?: string;
  event?: { type?: string; [k: string]: unknown };
  snapshot?: { value?: unknown; status?: string };
}

export interface SessionsRow {
  id: string;
  state: string;
  since: string;
  actor?: string;
}

const LOG_LIMIT = 300;
const ENDED_KEPT = 20;

/** `{SPEAKING: 'playing'}` → `SPEAKING.playing`. */
export function statePathOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length !== 1) return null;
    const [key, child] = entries[0] as [string, unknown];
    const rest = statePathOf(child);
    return rest === null ? key : `${key}.${rest}`;
  }
  return null;
}

/** The client-visible state (`/sessions`, `state` messages) as a state path. */
export function pathOfClientState(state: string): string {
  if (state === 'SPEAKING') return 'SPEAKING.playing';
  if (state === 'PAUSED') return 'SPEAKING.paused';
  return state;
}

/** A short, audio-free summary of an event's payload for the log. */
export function eventDetail(event: { type?: string; [k: string]: unknown } | undefined): string {
  if (!event) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(event)) {
    if (k === 'type') continue;
    if (typeof v === 'string') parts.push(`${k}: ${JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}…` : v)}`);
    else if (typeof v === 'number') parts.push(`${k}: ${Math.round(v * 10) / 10}`);
    else if (typeof v === 'boolean') parts.push(`${k}: ${v}`);
  }
  return parts.join(', ');
}

export class LiveSessions {
  readonly sessions = new Map<string, LiveSession>();
  /** Actors that are children of another actor: not sessions. */
  private readonly children = new Set<string>();

  private get(actorId: string, at: number): LiveSession {
    let s = this.sessions.get(actorId);
    if (!s) {
      s = { actorId, sessionId: null, state: '', last: null, firstSeen: at, updatedAt: at, ended: false, log: [] };
      this.sessions.set(actorId, s);
    }
    return s;
  }

  private push(s: LiveSession, entry: LogEntry): void {
    s.log.push(entry);
    if (s.log.length > LOG_LIMIT) s.log.splice(0, s.log.length - LOG_LIMIT);
    s.updatedAt = entry.at;
  }

  private moveTo(s: LiveSession, path: string, event: string, at: number): void {
    if (path === s.state) return;
    if (s.state) s.last = { from: s.state, to: path, event, at };
    s.state = path;
    this.push(s, { at, kind: 'state', type: path, detail: event ? `on ${event}` : '' });
  }

  /** Applies one inspection event; returns the actor it changed, if any. */
  apply(m: InspectionMessage, now = Date.now()): string | null {
    const actorId = m.sessionId;
    if (!actorId) return null;
    const at = Number(m.createdAt) || now;
    if (m.type === '@xstate.actor') {
      if (m.parentId) {
        this.children.add(actorId);
        return null;
      }
      const s = this.get(actorId, at);
      const path = statePathOf(m.snapshot?.value);
      if (path && !s.state) {
        s.state = path;
        this.push(s, { at, kind: 'state', type: path, detail: 'started' });
      }
      return actorId;
    }
    if (this.children.has(actorId)) return null;
    if (m.type === '@xstate.event') {
      const type = m.event?.type ?? '?';
      const s = this.get(actorId, at);
      this.push(s, { at, kind: 'event', type, detail: eventDetail(m.event) });
      return actorId;
    }
    if (m.type === '@xstate.snapshot') {
      const path = statePathOf(m.snapshot?.value);
      if (!path) return null;
      const s = this.get(actorId, at);
      this.moveTo(s, path, m.event?.type ?? '', at);
      if (m.snapshot?.status === 'done' || path === 'TERMINATED') s.ended = true;
      this.prune();
      return actorId;
    }
    return null;
  }

  /**
   * `GET /sessions`: names actors with their transport session id, adds sessions the view has
   * not heard of yet, and marks as ended those the orchestrator no longer has.
   */
  applySessions(rows: SessionsRow[], now = Date.now()): void {
    const live = new Set<string>();
    for (const row of rows) {
      if (!row.actor) continue;
      live.add(row.actor);
      const s = this.get(row.actor, Date.parse(row.since) || now);
      s.sessionId = row.id;
      if (!s.state) s.state = pathOfClientState(row.state);
    }
    for (const s of this.sessions.values()) {
      if (!s.ended && s.sessionId !== null && !live.has(s.actorId)) s.ended = true;
    }
    this.prune();
  }

  /** Keeps every live session and the most recent ended ones. */
  private prune(): void {
    const ended = [...this.sessions.values()].filter((s) => s.ended).sort((a, b) => b.updatedAt - a.updatedAt);
    for (const s of ended.slice(ENDED_KEPT)) this.sessions.delete(s.actorId);
  }

  /** Live sessions first (newest first), then ended ones. */
  list(): LiveSession[] {
    return [...this.sessions.values()].sort((a, b) => Number(a.ended) - Number(b.ended) || b.firstSeen - a.firstSeen);
  }
}
