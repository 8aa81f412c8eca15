/**
 * Time sources for the output pacer.
 *
 * The pacer never calls `setTimeout` / `performance.now` directly: it asks a `PacerClock` for
 * the current monotonic time and to run a callback at an ABSOLUTE time on that timeline. That
 * keeps the schedule drift-free (every deadline is computed from the anchor, never by chaining
 * relative delays) and lets tests drive time by hand with `ManualClock`.
 */

/** A monotonic clock that can run a callback at an absolute time (ms). */
export interface PacerClock {
  /** Monotonic milliseconds (sub-millisecond resolution where available). */
  now(): number;
  /**
   * Runs `fn` once, as soon as possible at or after `at` (same timeline as `now()`), never
   * synchronously inside `schedule`. Returns a function that cancels it (idempotent).
   */
  schedule(at: number, fn: () => void): () => void;
}

export interface RealClockOptions {
  /**
   * How long before the deadline the coarse `setTimeout` should wake up; the rest is waited by
   * a `setImmediate` spin that re-reads the clock on every event-loop turn. 0 = plain
   * `setTimeout` (cheapest, ~1 ms late on Node's millisecond timers). Default 2.
   */
  spinMs?: number;
}

/**
 * The production clock: `performance.now()` plus a hybrid timer — `setTimeout` to `spinMs`
 * before the deadline, then `setImmediate` turns until the deadline has passed. The spin costs a
 * little CPU (at most `spinMs` per frame) and removes most of the 1 ms granularity of Node
 * timers; with `spinMs: 0` it is a plain timer that fires 0–~1.5 ms late.
 */
export function createRealClock(options: RealClockOptions = {}): PacerClock {
  const spinMs = Math.max(0, options.spinMs ?? 2);
  return {
    now: () => performance.now(),
    schedule(at, fn) {
      let cancelled = false;
      let timeout: NodeJS.Timeout | undefined;
      let immediate: NodeJS.Immediate | undefined;
      const check = (): void => {
        timeout = undefined;
        immediate = undefined;
        if (cancelled) return;
        const remaining = at - performance.now();
        if (remaining <= 0) {
          cancelled = true;
          fn();
        } else if (remaining > spinMs + 1) {
          // Node timers have 1 ms granularity and fire late, never early: aim a bit before.
          timeout = setTimeout(check, Math.max(1, Math.floor(remaining - spinMs)));
        } else if (spinMs === 0) {
          timeout = setTimeout(check, Math.max(1, Math.ceil(remaining)));
        } else {
          immediate = setImmediate(check);
        }
      };
      immediate = setImmediate(check);
      return () => {
        cancelled = true;
        if (timeout) clearTimeout(timeout);
        if (immediate) clearImmediate(immediate);
      };
    },
  };
}

/** The default real clock (2 ms `setImmediate` spin). */
export const realClock: PacerClock = createRealClock();

interface ManualTask {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A hand-driven clock for tests: time only moves in `advance()`, and every task due on the way
 * runs at exactly its deadline (ties in scheduling order), so tests are deterministic.
 */
export class ManualClock implements PacerClock {
  private time: number;
  private seq = 0;
  private tasks: ManualTask[] = [];

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  schedule(at: number, fn: () => void): () => void {
    const task: ManualTask = { at, seq: this.seq++, fn, cancelled: false };
    this.tasks.push(task);
    return () => {
      task.cancelled = true;
    };
  }

  /** Tasks scheduled and not yet run or cancelled. */
  get pending(): number {
    return this.tasks.filter((t) => !t.cancelled).length;
  }

  /** Moves time forward by `ms`, running every task due up to the new time at its deadline. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`advance(${ms}): must be >= 0`);
    const target = this.time + ms;
    for (;;) {
      this.tasks = this.tasks.filter((t) => !t.cancelled);
      let next: ManualTask | undefined;
      for (const t of this.tasks) {
        if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (!next) break;
      next.cancelled = true;
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = target;
  }
}
