/**
 * How a session recovers from worker trouble (real orchestrator, real workers, real voice):
 * - a stream that fails while the reply is PAUSED leaves the session LISTENING with its hold
 *   lifted, and the next reply plays on the same (retried) worker;
 * - a worker shutting down gracefully mid-reply (its streams end "stopped" with a final marker)
 *   is a failover like a crash: the rest of the text plays on another worker.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOrchestrator } from '../../orchestrator/server.js';
import { voicepacksDir } from '../../workers/tts/voices/voicepack.js';
import { REAL_VOICE as VOICE, requireRealVoice, startTestOrchestrator } from '../support/orchestrator-stack.js';
import { PathClient, type ServerMsg } from '../support/path-client.js';
import { startTestWorker, type WorkerHarness } from '../support/worker-harness.js';
import { WorkerTap } from '../support/worker-tap.js';

const TEXT =
  'The museum opens at nine and the guided tour starts an hour later. After the storm passed, the children ran outside to splash in the puddles. Remember that the library closes early on holidays.';
const T = 30_000;

/** Waits for the first message from index `from` on matching `pred`. */
const next = async (c: PathClient, pred: (m: ServerMsg) => boolean, what: string, from = 0, timeoutMs = T): Promise<ServerMsg> =>
  (await c.waitFor(pred, what, timeoutMs, from)).msg;

describe('session recovery from worker trouble', () => {
  const workers: WorkerHarness[] = [];
  const orchestrators: RunningOrchestrator[] = [];
  const clients: PathClient[] = [];

  beforeAll(() => requireRealVoice(VOICE));

  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const o of orchestrators.splice(0)) await o.shutdown();
    for (const w of workers.splice(0)) await w.stop();
  });

  it('a stream failing while PAUSED: error, LISTENING, and the next reply plays on the retried worker', async () => {
    const tap = new WorkerTap();
    const worker = await startTestWorker({ voicepacksDir: voicepacksDir(), defaultModel: VOICE, interceptors: [tap.interceptor] });
    workers.push(worker);
    const orch = await startTestOrchestrator([`grpc://${worker.target}`], { inspection: false, failedWorkerRetryMs: 0 });
    orchestrators.push(orch);
    const c = await PathClient.connect(`ws://127.0.0.1:${orch.ws.port}`);
    clients.push(c);
    await next(c, (m) => m.state === 'LISTENING', 'LISTENING');
    const opened = await tap.waitFor((call) => call.rpc === 'StartSession', 'the prewarmed worker session', 20_000);
    const fault = tap.stallSynthesis(opened.sessionId, 'u1', 40);

    c.sendJson({ type: 'text', text: TEXT, is_final: true });
    await next(c, (m) => m.type === 'audio' && (m.sequence ?? 0) >= 5, 'audio of the first reply');
    let mark = c.messages.length;
    c.sendJson({ type: 'control', command: 'PAUSE' });
    await next(c, (m) => m.state === 'PAUSED', 'PAUSED', mark);
    await fault.arrived;
    fault.fail();
    const err = await next(c, (m) => m.type === 'error', 'worker_error', mark);
    expect(err.code).toBe('worker_error');
    await next(c, (m) => m.state === 'LISTENING', 'LISTENING after the failure', mark);

    mark = c.messages.length;
    c.sendJson({ type: 'text', text: 'Back again, loud and clear.', is_final: true });
    await next(c, (m) => m.type === 'done', 'done of the next reply', mark);
    const audio = c.messages.slice(mark).filter((m) => m.type === 'audio');
    expect(audio.length).toBeGreaterThan(40); // ~1.5 s of speech: the hold was lifted
    expect(audio.map((m) => m.sequence)).toEqual(audio.map((_, i) => i + 1));
  });

  it('a worker shutting down gracefully mid-reply: the rest plays on another worker, frames in sequence', async () => {
    const a = await startTestWorker({ voicepacksDir: voicepacksDir(), defaultModel: VOICE });
    const b = await startTestWorker({ voicepacksDir: voicepacksDir(), defaultModel: VOICE });
    workers.push(a, b);
    const orch = await startTestOrchestrator([`grpc://${a.target}`, `grpc://${b.target}`], { inspection: false });
    orchestrators.push(orch);
    const c = await PathClient.connect(`ws://127.0.0.1:${orch.ws.port}`);
    clients.push(c);
    await next(c, (m) => m.state === 'LISTENING', 'LISTENING');
    c.sendJson({ type: 'text', text: TEXT, is_final: true });
    await next(c, (m) => m.type === 'audio' && m.sequence === 25, 'half a second of the reply');
    const busy = (h: WorkerHarness) => h.worker.sessions.ids().some((id) => h.worker.sessions.get(id).active !== undefined);
    const serving = [a, b].find(busy);
    if (!serving) throw new Error('no worker is synthesizing the reply');
    const cutAt = c.messages.length;
    void serving.worker.shutdown('test: graceful shutdown mid-reply');

    await next(c, (m) => m.type === 'done', 'done', cutAt, 60_000);
    const notice = c.messages.slice(cutAt).find((m) => m.type === 'error');
    expect(notice?.code).toBe('worker_error');
    expect(notice?.message, JSON.stringify(notice)).toMatch(/failed \(it ended the stream: shutting down\); continuing on grpc:\/\/127\.0\.0\.1/);
    const audio = c.messages.filter((m) => m.type === 'audio');
    expect(audio.map((m) => m.sequence)).toEqual(audio.map((_, i) => i + 1));
    const before = c.messages.slice(0, cutAt).filter((m) => m.type === 'audio').length;
    expect(audio.length - before).toBeGreaterThan(150); // the rest of three sentences, not a cut-off
    const doneAt = c.messages.findIndex((m) => m.type === 'done');
    expect(c.messages.slice(cutAt, doneAt).filter((m) => m.type === 'state')).toEqual([]);
  });
});
