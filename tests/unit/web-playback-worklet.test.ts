/**
 * The playback worklet driven quantum by quantum in Node (its AudioWorkletGlobalScope faked: a
 * base class with a port, registerProcessor, currentTime), and the page's matching of stats
 * requests to its reports.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { StatsRequests } from '../../clients/web/src/audio/stats-requests.js';

interface Report {
  type: string;
  answered?: number;
  audibleSamples?: number;
  playedSamples?: number;
  buffered?: number;
  holding?: boolean;
}

class FakePort {
  onmessage: ((e: { data: unknown }) => void) | null = null;
  readonly posted: Report[] = [];
  postMessage(data: Report): void {
    this.posted.push(data);
  }
}

type Processor = { port: FakePort; process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean };
let Playback: new () => Processor;
const scope = globalThis as unknown as Record<string, unknown>;

beforeAll(async () => {
  scope.sampleRate = 48_000;
  scope.currentTime = 0;
  scope.AudioWorkletProcessor = class {
    readonly port = new FakePort();
  };
  scope.registerProcessor = (name: string, ctor: new () => Processor) => {
    if (name === 'duplex-playback') Playback = ctor;
  };
  // By URL: the worklet is typed against the page's lib (DOM), which the Node type-check lacks.
  await import(new URL('../../clients/web/src/audio/playback.worklet.ts', import.meta.url).href);
});

const QUANTUM = 128;

function render(p: Processor, quanta: number): Float32Array {
  const out = new Float32Array(QUANTUM * quanta);
  for (let q = 0; q < quanta; q += 1) {
    const block = new Float32Array(QUANTUM);
    p.process([], [[block]]);
    out.set(block, q * QUANTUM);
    scope.currentTime = (scope.currentTime as number) + QUANTUM / 48_000;
  }
  return out;
}

const send = (p: Processor, data: unknown) => p.port.onmessage?.({ data });
/** A loud 20 ms frame (s16le). */
const frame = () => new Int16Array(960).fill(8000).buffer;
const stats = (p: Processor) => p.port.posted.filter((m) => m.type === 'stats');

describe('playback worklet', () => {
  it('plays once primed, and a hold silences the very next quantum while keeping the buffer', () => {
    const p = new Playback();
    send(p, { type: 'pcm', pcm: frame() });
    send(p, { type: 'pcm', pcm: frame() });
    const before = render(p, 4);
    expect(before.every((s) => s > 0.2)).toBe(true);
    send(p, { type: 'hold' });
    const after = render(p, 4);
    expect(after.every((s) => s === 0)).toBe(true);
    send(p, { type: 'release' });
    expect(render(p, 1).every((s) => s > 0.2)).toBe(true);
  });

  it('a report made before a stats request does not answer it; the reply after the hold counts every sample played', () => {
    const p = new Playback();
    for (let i = 0; i < 10; i += 1) send(p, { type: 'pcm', pcm: frame() });
    // Playing: the worklet reports on its own every 16 quanta.
    render(p, 16);
    const periodic = stats(p).at(-1)!;
    expect(periodic.answered).toBe(0);
    // More quanta play before the page's hold and request reach the render thread...
    render(p, 3);
    const requests = new StatsRequests<Report>();
    const answers: Report[] = [];
    const id = requests.open((r) => answers.push(r));
    send(p, { type: 'hold' });
    send(p, { type: 'stats', id });
    // ...and the periodic report arrives at the page first: it must not settle the request.
    requests.settle(periodic.answered!, periodic);
    expect(answers).toEqual([]);
    render(p, 1);
    const reply = stats(p).at(-1)!;
    expect(reply.answered).toBe(id);
    expect(reply.holding).toBe(true);
    requests.settle(reply.answered!, reply);
    expect(answers).toEqual([reply]);
    expect(reply.audibleSamples).toBe(19 * QUANTUM);
    expect(reply.audibleSamples!).toBeGreaterThan(periodic.audibleSamples!);
    // Held: nothing more plays, so a later reply counts the same.
    render(p, 20);
    expect(stats(p).at(-1)!.audibleSamples).toBe(reply.audibleSamples);
  });

  it('a flush drops what is buffered', () => {
    const p = new Playback();
    for (let i = 0; i < 3; i += 1) send(p, { type: 'pcm', pcm: frame() });
    render(p, 2);
    send(p, { type: 'flush' });
    send(p, { type: 'stats', id: 1 });
    expect(render(p, 2).every((s) => s === 0)).toBe(true);
    const reply = stats(p).at(-1)!;
    expect(reply.answered).toBe(1);
    expect(reply.buffered).toBe(0);
    expect(reply.playedSamples).toBe(2 * QUANTUM);
  });
});

describe('stats requests', () => {
  it('settles each request by the first report that echoes it or a later one, once', () => {
    const r = new StatsRequests<string>();
    const got: string[] = [];
    const a = r.open((v) => got.push(`a:${v}`));
    const b = r.open((v) => got.push(`b:${v}`));
    r.settle(0, 'stale');
    expect(got).toEqual([]);
    r.settle(a, 'first');
    expect(got).toEqual(['a:first']);
    expect(r.pending).toBe(1);
    r.settle(b + 5, 'later');
    r.settle(b, 'again');
    expect(got).toEqual(['a:first', 'b:later']);
    expect(r.pending).toBe(0);
    expect(b).toBe(a + 1);
  });
});
