/**
 * Matches `freshStats()` requests to the render thread's replies. The worklet also reports on its
 * own every ~43 ms while playing, and one of those can already be on its way when a request is
 * posted: taken as the answer, it misses the quanta rendered between it and the request (a hold
 * looked as if ~3 quanta played after it). So each request carries a number, the worklet echoes
 * the last number it has seen, and a request is answered only by a report that echoes it or a
 * later one — a report made after every command posted before the request took effect.
 */
export class StatsRequests<T> {
  private last = 0;
  private waiting: { id: number; resolve: (value: T) => void }[] = [];

  /** Registers a request; post the returned id with it. */
  open(resolve: (value: T) => void): number {
    this.last += 1;
    this.waiting.push({ id: this.last, resolve });
    return this.last;
  }

  /** A report that echoes request `answered` (0: none yet) settles that request and earlier ones. */
  settle(answered: number, value: T): void {
    // Ids grow in the order requests were opened: the settled ones are a prefix.
    const kept = this.waiting.findIndex((w) => w.id > answered);
    const due = kept === -1 ? this.waiting : this.waiting.slice(0, kept);
    if (due.length === 0) return;
    this.waiting = kept === -1 ? [] : this.waiting.slice(kept);
    for (const w of due) w.resolve(value);
  }

  get pending(): number {
    return this.waiting.length;
  }
}
