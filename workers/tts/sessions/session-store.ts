import { randomUUID } from 'node:crypto';
import type { SynthesizeOptions } from '../engine/engine.js';
import type { SynthesisStream } from '../engine/synthesis-stream.js';
import type { ModelLease } from '../models/model-manager.js';

/** One client's worker session: its voice (held while the session lives) and its synthesis. */
export interface WorkerSession {
  id: string;
  lease: ModelLease;
  options: SynthesizeOptions;
  createdAt: number;
  /** The synthesis in progress, if any; a session runs one at a time. */
  active: ActiveSynthesis | undefined;
}

export interface ActiveSynthesis {
  stream: SynthesisStream;
  /** Sequence of the last frame handed to the transport. */
  lastSequence: number;
  /** `text_done` of that frame: the text already fully spoken. */
  lastTextDone: number;
  stoppedByControl: boolean;
}

export class SessionError extends Error {
  constructor(
    readonly code: 'not_found' | 'exists' | 'capacity',
    message: string,
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

export class SessionStore {
  private readonly sessions = new Map<string, WorkerSession>();

  constructor(private readonly maxSessions: number) {}

  get size(): number {
    return this.sessions.size;
  }

  ids(): string[] {
    return [...this.sessions.keys()];
  }

  add(lease: ModelLease, options: SynthesizeOptions, id?: string): WorkerSession {
    const sessionId = id && id.length > 0 ? id : randomUUID();
    if (this.sessions.has(sessionId)) throw new SessionError('exists', `session ${sessionId} already exists`);
    if (this.sessions.size >= this.maxSessions) {
      throw new SessionError('capacity', `worker is at its session limit (${this.maxSessions})`);
    }
    const session: WorkerSession = { id: sessionId, lease, options, createdAt: Date.now(), active: undefined };
    this.sessions.set(sessionId, session);
    return session;
  }

  get(id: string): WorkerSession {
    const session = this.sessions.get(id);
    if (!session) throw new SessionError('not_found', `unknown session ${JSON.stringify(id)}`);
    return session;
  }

  /** Ends a session: stops its synthesis and gives its voice back. Idempotent. */
  end(id: string): boolean {
    const session = this.sessions.get(id);
    if (!session) return false;
    this.sessions.delete(id);
    session.active?.stream.stop();
    session.lease.release();
    return true;
  }

  endAll(): void {
    for (const id of this.ids()) this.end(id);
  }
}
