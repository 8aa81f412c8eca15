import { describe, expect, it } from 'vitest';
import { chooseWorker, StaticDiscovery, type WorkerInfo } from '../../actors/synthesis/discovery.js';
import { LoadAwareDiscovery, WorkerLoadTracker } from '../../actors/synthesis/worker-load.js';

const worker = (name: string, over: Partial<WorkerInfo> = {}): WorkerInfo => ({
  name,
  addr: `grpc://${name}:7001`,
  languages: ['en_US'],
  residentModels: ['v'],
  defaultModel: 'v',
  activeSessions: 0,
  maxSessions: 8,
  ...over,
});

describe('WorkerLoadTracker', () => {
  it('spreads sessions opened within one record refresh over the workers', () => {
    let now = 1_000;
    const tracker = new WorkerLoadTracker({ now: () => now });
    // Both records were written before any session: they say 0 and keep saying it for 10 s.
    const records = [worker('tts0', { updatedAt: 500 }), worker('tts1', { updatedAt: 500 })];
    const picks: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      const w = chooseWorker(tracker.adjust(records), { language: 'en_US', model: 'v' })!;
      picks.push(w.name);
      now += 10;
      tracker.sessionOpened(w.addr, `s${i}`);
    }
    expect(picks.sort()).toEqual(['tts0', 'tts0', 'tts1', 'tts1']);
    // Without the tracker every one of them would have gone to the first worker listed.
    expect(chooseWorker(records, { language: 'en_US', model: 'v' })!.name).toBe('tts0');
  });

  it('stops adding a session once the record written after it counts it, and forgets closed ones', () => {
    let now = 1_000;
    const tracker = new WorkerLoadTracker({ now: () => now });
    tracker.sessionOpened('grpc://tts0:7001', 'a');
    expect(tracker.adjust([worker('tts0', { updatedAt: 900 })])[0]!.activeSessions).toBe(1);
    now = 2_000;
    // The refresh at 1500 already includes session a in the worker's own count.
    expect(tracker.adjust([worker('tts0', { updatedAt: 1_500, activeSessions: 1 })])[0]!.activeSessions).toBe(1);
    tracker.sessionClosed('grpc://tts0:7001', 'a');
    expect(tracker.openOn('grpc://tts0:7001')).toBe(0);
    // Static addresses have no record: every open session counts.
    tracker.sessionOpened('grpc://static:1', 'b');
    expect(tracker.adjust([worker('static', { addr: 'grpc://static:1' })])[0]!.activeSessions).toBe(1);
  });

  it('leaves a worker that refused us out until its record is rewritten after the failure', () => {
    let now = 1_000;
    const tracker = new WorkerLoadTracker({ now: () => now });
    tracker.sessionOpened('grpc://tts0:7001', 'a');
    now = 1_100;
    tracker.workerUnavailable('grpc://tts0:7001');
    expect(tracker.openOn('grpc://tts0:7001')).toBe(0); // its sessions died with it
    // The crashed worker's record lingers in Redis until its TTL: still listed, not chosen.
    const lingering = [worker('tts0', { updatedAt: 1_000 }), worker('tts1', { updatedAt: 1_000 })];
    expect(tracker.adjust(lingering).map((w) => w.name)).toEqual(['tts1']);
    now = 20_000;
    expect(tracker.adjust(lingering).map((w) => w.name)).toEqual(['tts1']);
    // Restarted: it writes a fresh record, and is back.
    expect(tracker.adjust([worker('tts0', { updatedAt: 19_000 })]).map((w) => w.name)).toEqual(['tts0']);
  });

  it('retries a static address after retryAfterMs, and at once when it accepts a session', () => {
    let now = 0;
    const tracker = new WorkerLoadTracker({ now: () => now, retryAfterMs: 5_000 });
    const s = worker('static', { addr: 'grpc://static:1' });
    tracker.workerUnavailable(s.addr);
    expect(tracker.adjust([s])).toEqual([]);
    now = 5_000;
    expect(tracker.adjust([s]).map((w) => w.name)).toEqual(['static']);
    tracker.workerUnavailable(s.addr);
    tracker.sessionOpened(s.addr, 'x');
    expect(tracker.adjust([s]).map((w) => w.name)).toEqual(['static']);
  });

  it('LoadAwareDiscovery applies the tracker to what discovery lists', async () => {
    const tracker = new WorkerLoadTracker();
    const d = new LoadAwareDiscovery(new StaticDiscovery([worker('a'), worker('b')]), tracker);
    tracker.sessionOpened('grpc://a:7001', 's');
    tracker.workerUnavailable('grpc://b:7001');
    expect((await d.list()).map((w) => [w.name, w.activeSessions])).toEqual([['a', 1]]);
  });
});
