import type { WorkerDiscovery, WorkerInfo } from './discovery.js';

/**
 * What this orchestrator knows first-hand about its workers, added to what discovery reports.
 *
 * Why: a worker rewrites its Redis record every 10 s (SPEC §7), so the record's active_sessions
 * lags. Sessions opened within one refresh all saw the same loads and went to the same worker —
 * two workers, and every new session landed on the first. And a worker that crashed stays listed
 * until its record expires (30 s), so new sessions kept choosing it and failing.
 *
 * So: each worker's load counts the sessions this orchestrator opened on it after the record was
 * written (earlier ones the record already includes), and a worker that refused a connection
 * (gRPC UNAVAILABLE) is left out until it proves alive — its record rewritten after the failure,
 * or, for static addresses that have no record, `retryAfterMs` later.
 */
export class WorkerLoadTracker {
  /** addr → session id → when it was opened (ms since the epoch, the clock records use). */
  private readonly sessions = new Map<string, Map<string, number>>();
  /** addr → when it last refused us. */
  private readonly failedAt = new Map<string, number>();
  private readonly now: () => number;
  private readonly retryAfterMs: number;

  constructor(opts: { now?: () => number; retryAfterMs?: number } = {}) {
    this.now = opts.now ?? Date.now;
    this.retryAfterMs = opts.retryAfterMs ?? 5000;
  }

  sessionOpened(addr: string, sessionId: string): void {
    let open = this.sessions.get(addr);
    if (!open) this.sessions.set(addr, (open = new Map()));
    open.set(sessionId, this.now());
    this.failedAt.delete(addr); // it just accepted a session
  }

  sessionClosed(addr: string, sessionId: string): void {
    this.sessions.get(addr)?.delete(sessionId);
  }

  /** The worker is unreachable: every session it had is gone with it. */
  workerUnavailable(addr: string): void {
    this.failedAt.set(addr, this.now());
    this.sessions.delete(addr);
  }

  /** Sessions this orchestrator holds on `addr` (all of them, or only those opened after `since`). */
  openOn(addr: string, since = -Infinity): number {
    let n = 0;
    for (const at of this.sessions.get(addr)?.values() ?? []) if (at > since) n += 1;
    return n;
  }

  private isDown(w: WorkerInfo): boolean {
    const failed = this.failedAt.get(w.addr);
    if (failed === undefined) return false;
    const alive = w.updatedAt !== undefined ? w.updatedAt > failed : this.now() - failed >= this.retryAfterMs;
    if (alive) this.failedAt.delete(w.addr);
    return !alive;
  }

  /** `workers` as they are now: down ones left out, loads including sessions the records do not show yet. */
  adjust(workers: readonly WorkerInfo[]): WorkerInfo[] {
    return workers
      .filter((w) => !this.isDown(w))
      .map((w) => ({ ...w, activeSessions: w.activeSessions + this.openOn(w.addr, w.updatedAt ?? -Infinity) }));
  }
}

/** Discovery with the tracker's first-hand knowledge applied (see WorkerLoadTracker). */
export class LoadAwareDiscovery implements WorkerDiscovery {
  constructor(
    private readonly inner: WorkerDiscovery,
    readonly tracker: WorkerLoadTracker,
  ) {}

  async list(): Promise<WorkerInfo[]> {
    return this.tracker.adjust(await this.inner.list());
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
