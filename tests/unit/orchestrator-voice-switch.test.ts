/**
 * A voice switch as the session runtime sees it, with a worker stand-in whose answers the test
 * releases: what waits for the switch, and what a refused switch leaves behind.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { WorkerClient } from '../../actors/synthesis/worker-client.js';
import { SessionRuntime } from '../../orchestrator/session-runtime.js';
import { waitFor } from '../helpers/poll.js';
import { fakeConnection, oneFakeWorker } from '../support/runtime-fakes.js';

function deferred() {
  let reject!: (err: Error) => void;
  const promise = new Promise<string>((_resolve, r) => (reject = r));
  return { promise, reject };
}

function setup() {
  const { conn, sent } = fakeConnection();
  const sessionsFor: string[] = [];
  const synthesizedWith: string[] = [];
  const refusal = deferred();
  const listings = { count: 0 };
  const client = {
    addr: 'fake:1',
    startSession: (voice: string) => {
      sessionsFor.push(voice);
      return voice === 'bad' ? refusal.promise : Promise.resolve(`w-${voice}`);
    },
    endSession: async () => undefined,
    control: async () => ({}),
    listModels: async () => (listings.count++, [
      { modelId: 'v', language: 'en_US', loaded: true },
      { modelId: 'w', language: 'en_US', loaded: false },
    ]),
    synthesize: (sessionId: string) => {
      synthesizedWith.push(sessionId);
      return new EventEmitter();
    },
  } as unknown as WorkerClient;
  const runtime = new SessionRuntime({
    conn,
    discovery: oneFakeWorker,
    clients: () => client,
    voice: 'v',
    language: 'en_US',
    machineInput: { bargeInPolicy: 'stop' },
    leadMs: 60,
    log: { info: () => undefined, warn: () => undefined },
  });
  return { runtime, sent, sessionsFor, synthesizedWith, refusal, listings };
}

describe('orchestrator voice switch', () => {
  it('a voices list asked for behind a pending switch waits for it, and names the kept voice when it is refused', async () => {
    const { runtime, sent, sessionsFor, refusal, listings } = setup();
    runtime.onMessage({ type: 'session_start', voice: 'bad' });
    runtime.onMessage({ type: 'voices' });
    await waitFor(() => sessionsFor.includes('bad') && listings.count > 0, 'the switch and the listing to reach the worker');
    // One turn of the event loop: every promise chain the listing started has run by then, so
    // its message would be out already had it not waited for the switch.
    await new Promise((r) => setImmediate(r));
    expect(sent.filter((m) => m.type === 'voices')).toEqual([]);
    refusal.reject(new Error('5 NOT_FOUND: no such voice'));
    const list = await waitFor(() => sent.find((m) => m.type === 'voices'), 'the voices list');
    expect(list).toMatchObject({ current: 'v' });
    expect(sent.map((m) => m.type).filter((t) => t === 'error' || t === 'voices')).toEqual(['error', 'voices']);
    runtime.onClose();
  });

  it('a text behind a pending switch that is refused is synthesized in the kept voice', async () => {
    const { runtime, sent, synthesizedWith, refusal } = setup();
    await waitFor(() => sent.some((m) => m.type === 'state'), 'the session to start');
    runtime.onMessage({ type: 'session_start', voice: 'bad' });
    runtime.onMessage({ type: 'text', text: 'Still me.', is_final: true });
    refusal.reject(new Error('5 NOT_FOUND: no such voice'));
    await waitFor(() => synthesizedWith.length > 0, 'the synthesis to start');
    expect(synthesizedWith).toEqual(['w-v']);
    expect(sent.find((m) => m.type === 'error')).toMatchObject({ code: 'unknown_voice' });
    runtime.onClose();
  });
});
