/**
 * Output pacer (actors/pacer): cadence, lead, hold/release/flush, underruns and drain, driven by
 * a ManualClock; plus the XState callback-actor wrapper and one loose real-clock jitter check.
 */
import { createActor, createMachine, sendTo } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createRealClock, ManualClock } from '../../actors/pacer/clock.js';
import { FRAME_BYTES, OutputPacer, percentile } from '../../actors/pacer/output-pacer.js';
import type { DrainedInfo, OutputPacerOptions, PacedFrame } from '../../actors/pacer/output-pacer.js';
import { pacerActorLogic } from '../../actors/pacer/pacer-actor.js';
import type { PacerActorEmitted, PacerActorEvent } from '../../actors/pacer/pacer-actor.js';

const frame = (sequence: number, utteranceId = 'u1'): PacedFrame => ({
  pcm: Buffer.alloc(FRAME_BYTES, sequence & 0xff),
  sequence,
  utteranceId,
});

interface Rig {
  clock: ManualClock;
  pacer: OutputPacer;
  /** [sequence, send time] of every frame the sink received. */
  sent: Array<[number, number]>;
  drained: DrainedInfo[];
  seqs(): number[];
  push(from: number, to: number, utteranceId?: string): void;
}

function rig(options: Partial<OutputPacerOptions> = {}): Rig {
  const clock = new ManualClock(1000);
  const sent: Array<[number, number]> = [];
  const drained: DrainedInfo[] = [];
  const pacer = new OutputPacer({
    clock,
    sink: (f) => sent.push([f.sequence, clock.now()]),
    onDrained: (info) => drained.push(info),
    ...options,
  });
  return {
    clock,
    pacer,
    sent,
    drained,
    seqs: () => sent.map(([s]) => s),
    push(from, to, utteranceId = 'u1') {
      for (let s = from; s <= to; s++) pacer.enqueue(frame(s, utteranceId));
    },
  };
}

describe('OutputPacer on a manual clock', () => {
  it('sends the real-time frame plus 3 frames of lead at once, then one per 20 ms on the ideal timeline', () => {
    const r = rig();
    r.push(1, 10);
    // due(n) = anchor + n×20 − 60: n = 0..3 are due at or before the anchor.
    expect(r.seqs()).toEqual([1, 2, 3, 4]);
    expect(r.sent.every(([, t]) => t === 1000)).toBe(true);
    r.clock.advance(19.9);
    expect(r.sent).toHaveLength(4);
    r.clock.advance(0.1);
    expect(r.sent.at(-1)).toEqual([5, 1020]);
    r.clock.advance(60);
    expect(r.sent.slice(4)).toEqual([
      [5, 1020],
      [6, 1040],
      [7, 1060],
      [8, 1080],
    ]);
    expect(r.pacer.stats().jitter.max).toBe(0);
  });

  it('schedules against the anchor, so late wake-ups do not accumulate drift', () => {
    // A clock whose timers always fire 7 ms late: chained timeouts would drift 7 ms per frame.
    const clock = new ManualClock(0);
    const lateClock = { now: () => clock.now(), schedule: (at: number, fn: () => void) => clock.schedule(at + 7, fn) };
    const times: number[] = [];
    const pacer = new OutputPacer({ clock: lateClock, leadMs: 0, sink: () => times.push(clock.now()) });
    for (let s = 1; s <= 20; s++) pacer.enqueue(frame(s));
    clock.advance(1000);
    expect(times).toHaveLength(20);
    // Frame n leaves at 20n + 7 (frame 0 synchronously at 0): 7 ms late, never 7n.
    expect(times.slice(1)).toEqual(Array.from({ length: 19 }, (_, i) => (i + 1) * 20 + 7));
    expect(pacer.stats().jitter.p95).toBe(7);
  });

  it('honours a configurable lead (0 ms: strictly real time; 100 ms: 5 frames ahead)', () => {
    const zero = rig({ leadMs: 0 });
    zero.push(1, 5);
    expect(zero.seqs()).toEqual([1]);
    zero.clock.advance(20);
    expect(zero.seqs()).toEqual([1, 2]);

    const big = rig({ leadMs: 100 });
    big.push(1, 10);
    expect(big.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('sends frames that arrive after their slot on arrival, without counting pacer jitter', () => {
    const r = rig();
    r.pacer.enqueue(frame(1));
    expect(r.seqs()).toEqual([1]);
    // The producer is slower than the lead allowance but faster than real time.
    r.clock.advance(5);
    r.pacer.enqueue(frame(2));
    r.clock.advance(5);
    r.pacer.enqueue(frame(3));
    expect(r.sent).toEqual([
      [1, 1000],
      [2, 1005],
      [3, 1010],
    ]);
    expect(r.pacer.underruns).toBe(0);
    expect(r.pacer.stats().jitter.max).toBe(0);
  });

  it('hold() stops output at once and release() resumes with the exact next frame on a fresh timeline', () => {
    const r = rig();
    r.push(1, 12);
    r.clock.advance(40); // frames 5, 6
    expect(r.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
    r.pacer.hold();
    expect(r.pacer.isHeld).toBe(true);
    r.clock.advance(1000);
    expect(r.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.pacer.queued).toBe(6);
    expect(r.pacer.underruns).toBe(0);

    r.pacer.release();
    // Re-anchored at release: the next frame and 3 of lead go at once, then 20 ms cadence.
    expect(r.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(r.sent.slice(6).every(([, t]) => t === 2040)).toBe(true);
    r.clock.advance(20);
    expect(r.sent.at(-1)).toEqual([11, 2060]);
  });

  it('hold() called from inside the sink stops a burst before the next frame', () => {
    const clock = new ManualClock();
    const seqs: number[] = [];
    const pacer: OutputPacer = new OutputPacer({
      clock,
      sink: (f) => {
        seqs.push(f.sequence);
        if (f.sequence === 2) pacer.hold();
      },
    });
    for (let s = 1; s <= 6; s++) pacer.enqueue(frame(s));
    clock.advance(500);
    expect(seqs).toEqual([1, 2]);
    pacer.release();
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('flush() drops everything queued, cancels the pending end and leaves the pacer ready (and not held)', () => {
    const r = rig();
    r.push(1, 10);
    r.pacer.end();
    r.pacer.hold();
    expect(r.pacer.flush()).toBe(6);
    expect(r.pacer.queued).toBe(0);
    expect(r.pacer.isHeld).toBe(false);
    r.clock.advance(1000);
    expect(r.seqs()).toEqual([1, 2, 3, 4]);
    expect(r.drained).toEqual([]);
    expect(r.pacer.underruns).toBe(0);

    r.push(1, 2, 'u2');
    expect(r.seqs()).toEqual([1, 2, 3, 4, 1, 2]);
  });

  it('counts an underrun once per stall when the client would run dry mid-utterance, then re-anchors', () => {
    const r = rig();
    r.push(1, 4); // all four go at once; the client has 80 ms of audio
    expect(r.seqs()).toEqual([1, 2, 3, 4]);
    r.clock.advance(79);
    expect(r.pacer.underruns).toBe(0);
    r.clock.advance(1); // frame n=4 would start playing at anchor + 80: nothing to send
    expect(r.pacer.underruns).toBe(1);
    r.clock.advance(500);
    expect(r.pacer.underruns).toBe(1);

    r.push(5, 10); // re-anchored at arrival: a full lead again
    expect(r.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(r.sent.slice(4).every(([, t]) => t === 1580)).toBe(true);
  });

  it('does not count an underrun after the utterance ended, nor while held', () => {
    const r = rig();
    r.push(1, 6);
    r.pacer.hold();
    r.clock.advance(1000);
    expect(r.pacer.underruns).toBe(0);
    r.pacer.release();
    r.pacer.end();
    r.clock.advance(1000);
    expect(r.pacer.underruns).toBe(0);
    expect(r.drained).toHaveLength(1);
  });

  it('fires onDrained exactly when the last frame of the utterance has been sent', () => {
    const r = rig();
    r.push(1, 6);
    r.pacer.end();
    expect(r.drained).toEqual([]);
    r.clock.advance(20); // frame 5
    expect(r.drained).toEqual([]);
    r.clock.advance(20); // frame 6, the last
    expect(r.seqs()).toEqual([1, 2, 3, 4, 5, 6]);
    expect(r.drained).toEqual([{ utteranceId: 'u1', frames: 6, lastSequence: 6 }]);
    expect(r.pacer.stats()).toMatchObject({ framesSent: 6, underruns: 0, queued: 0 });
  });

  it('does not drain while held; drains on release', () => {
    const r = rig();
    r.push(1, 2);
    r.pacer.hold();
    r.pacer.end();
    r.clock.advance(100);
    expect(r.drained).toEqual([]);
    r.pacer.release();
    expect(r.drained).toEqual([{ utteranceId: 'u1', frames: 2, lastSequence: 2 }]);
  });

  it('plays back-to-back utterances on one timeline and drains each', () => {
    const r = rig();
    r.push(1, 5, 'u1');
    r.pacer.end();
    r.push(1, 3, 'u2');
    r.pacer.end('u2');
    expect(r.seqs()).toEqual([1, 2, 3, 4]);
    r.clock.advance(20);
    expect(r.drained.map((d) => d.utteranceId)).toEqual(['u1']);
    r.clock.advance(60);
    expect(r.seqs()).toEqual([1, 2, 3, 4, 5, 1, 2, 3]);
    expect(r.sent.slice(4).map(([, t]) => t)).toEqual([1020, 1040, 1060, 1080]);
    expect(r.drained).toEqual([
      { utteranceId: 'u1', frames: 5, lastSequence: 5 },
      { utteranceId: 'u2', frames: 3, lastSequence: 3 },
    ]);
  });

  it('end() with nothing enqueued drains at once; a repeated end() is ignored', () => {
    const r = rig();
    r.pacer.end('empty');
    r.pacer.end('empty');
    expect(r.drained).toEqual([{ utteranceId: 'empty', frames: 0, lastSequence: undefined }]);
  });

  it('rejects frames that are not 1920 bytes and survives a throwing sink', () => {
    const errors: unknown[] = [];
    const clock = new ManualClock();
    const pacer = new OutputPacer({
      clock,
      sink: () => {
        throw new Error('sink broke');
      },
      onSinkError: (e) => errors.push(e),
    });
    expect(() => pacer.enqueue({ pcm: Buffer.alloc(100), sequence: 1 })).toThrow(/1920 bytes/);
    pacer.enqueue(frame(1));
    pacer.enqueue(frame(2));
    expect(pacer.stats()).toMatchObject({ framesSent: 2, sinkErrors: 2 });
    expect(errors).toHaveLength(2);
  });

  it('percentile() is nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(xs, 95)).toBe(95);
    expect(percentile(xs, 50)).toBe(50);
    expect(percentile([], 95)).toBe(0);
  });
});

describe('pacerActorLogic (XState callback actor)', () => {
  function parentWithPacer(clock: ManualClock, sink: (f: PacedFrame) => void) {
    const received: PacerActorEmitted[] = [];
    const parent = createMachine({
      types: {} as { events: PacerActorEmitted | { type: 'TO_PACER'; event: PacerActorEvent } },
      invoke: { id: 'pacer', src: pacerActorLogic, input: { clock, sink } },
      on: {
        'UTTERANCE.DONE': { actions: ({ event }) => received.push(event) },
        'PACER.UNDERRUN': { actions: ({ event }) => received.push(event) },
        TO_PACER: { actions: sendTo('pacer', ({ event }) => event.event) },
      },
    });
    const actor = createActor(parent).start();
    const send = (event: PacerActorEvent): void => actor.send({ type: 'TO_PACER', event });
    return { actor, received, send };
  }

  it('paces FRAME events, obeys HOLD / RELEASE / FLUSH and sends UTTERANCE.DONE when drained', () => {
    const clock = new ManualClock();
    const seqs: number[] = [];
    const { actor, received, send } = parentWithPacer(clock, (f) => seqs.push(f.sequence));
    for (let s = 1; s <= 6; s++) send({ type: 'FRAME', frame: frame(s, 'u7') });
    expect(seqs).toEqual([1, 2, 3, 4]);
    send({ type: 'HOLD' });
    send({ type: 'END' });
    clock.advance(200);
    expect(seqs).toEqual([1, 2, 3, 4]);
    expect(received).toEqual([]);
    send({ type: 'RELEASE' });
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6]);
    expect(received).toEqual([{ type: 'UTTERANCE.DONE', utteranceId: 'u7' }]);

    for (let s = 1; s <= 8; s++) send({ type: 'FRAME', frame: frame(s, 'u8') });
    send({ type: 'FLUSH' });
    send({ type: 'END', utteranceId: 'u9' });
    expect(received.at(-1)).toEqual({ type: 'UTTERANCE.DONE', utteranceId: 'u9' });
    actor.stop();
    expect(clock.pending).toBe(0);
  });

  it('reports underruns and cancels its timers when stopped', () => {
    const clock = new ManualClock();
    const { actor, received, send } = parentWithPacer(clock, () => undefined);
    send({ type: 'FRAME', frame: frame(1) });
    clock.advance(20);
    expect(received).toEqual([{ type: 'PACER.UNDERRUN', count: 1 }]);
    send({ type: 'FRAME', frame: frame(2) });
    send({ type: 'FRAME', frame: frame(3) });
    send({ type: 'FRAME', frame: frame(4) });
    send({ type: 'FRAME', frame: frame(5) });
    send({ type: 'FRAME', frame: frame(6) });
    expect(clock.pending).toBe(1);
    actor.stop();
    expect(clock.pending).toBe(0);
  });
});

describe('OutputPacer on the real clock', () => {
  // Checks the real clock's wiring (absolute deadlines, the final spin never firing early); the
  // anchoring rule itself is tested on the manual clock above, and jitter under load is a bench
  // figure (`--suite e2e`). Nothing here depends on how busy the machine is: a stall only delays.
  it('sends every frame, none before its slot on the 20 ms timeline, typically on time', async () => {
    const times: number[] = [];
    let done!: () => void;
    const drained = new Promise<void>((resolve) => (done = resolve));
    const pacer = new OutputPacer({
      clock: createRealClock(),
      sink: () => times.push(performance.now()),
      onDrained: () => done(),
    });
    for (let s = 1; s <= 60; s++) pacer.enqueue(frame(s));
    pacer.end();
    await drained;
    const stats = pacer.stats();
    console.log(`real-clock pacer jitter (ms): p50 ${stats.jitter.p50.toFixed(3)} p95 ${stats.jitter.p95.toFixed(3)} max ${stats.jitter.max.toFixed(3)}; underruns ${stats.underruns}`);
    expect(stats.framesSent).toBe(60);
    // After the 4-frame burst, frame k (k >= 4) is due 20 ms × (k - 3) after the first frame; a
    // stall re-anchors the timeline later, never earlier.
    const start = times[0] ?? 0;
    const earliest = Math.min(...times.slice(4).map((t, i) => t - (start + 20 * (i + 1))));
    expect(earliest).toBeGreaterThan(-1);
    // A clock that wakes late every time shows in the median (its p95 is the bench's business: a
    // loaded machine's stalls move it, as CI saw with 5.7 ms, but not the median). Measured with
    // the clock's wait stretched 1.3x: p50 2.8 ms; a sound clock: ~0.02 ms.
    expect(stats.jitter.p50).toBeLessThan(2);
    // A clock that took the deadline for a delay would wait ~performance.now() ms per frame.
    expect((times.at(-1) ?? 0) - start).toBeLessThan(56 * 20 + 200);
  });
});
