import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorkerProcess, type WorkerProcess } from '../../bench/worker-process.js';
import type { RunningOrchestrator } from '../../orchestrator/server.js';
import { voicepacksDir } from '../../workers/tts/voices/voicepack.js';
import { requireRealVoice, startTestOrchestrator } from '../support/orchestrator-stack.js';
import { startTestWorker, type WorkerHarness } from '../support/worker-harness.js';

const VOICE = 'en_US-joe-medium';
const TEXT =
  'The museum opens at nine and the guided tour starts an hour later. After the storm passed, the children ran outside to splash in the puddles. Remember that the library closes early on holidays.';

interface Msg {
  type: string;
  state?: string;
  sequence?: number;
  code?: string;
  message?: string;
}

describe('a worker dies mid-utterance', () => {
  let doomed: WorkerProcess;
  let healthy: WorkerHarness;
  let orch: RunningOrchestrator;

  beforeAll(async () => {
    requireRealVoice(VOICE);
    doomed = await startWorkerProcess(VOICE);
    healthy = await startTestWorker({ voicepacksDir: voicepacksDir(), defaultModel: VOICE });
    // The first listed worker takes the session; the second is the healthy spare.
    orch = await startTestOrchestrator([`grpc://127.0.0.1:${doomed.port}`, `grpc://${healthy.target}`], { inspection: false });
  }, 120_000);

  afterAll(async () => {
    await orch?.shutdown();
    await healthy?.stop();
    if (doomed && doomed.child.exitCode === null && doomed.child.signalCode === null) await doomed.stop();
  });

  it('reports it and the rest of the utterance plays from another worker, frames in sequence', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${orch.ws.port}`);
    const messages: Msg[] = [];
    let killAt = 0;
    const done = new Promise<void>((resolve, reject) => {
      ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as Msg;
        messages.push(m);
        if (m.type === 'state' && m.state === 'LISTENING' && messages.filter((x) => x.type === 'state').length === 1) {
          ws.send(JSON.stringify({ type: 'text', text: TEXT, is_final: true }));
        }
        // Half a second into the reply, the worker serving it is killed (SIGKILL: a crash).
        if (m.type === 'audio' && m.sequence === 25 && !killAt) {
          killAt = messages.length;
          doomed.child.kill('SIGKILL');
        }
        if (m.type === 'done') resolve();
      });
      ws.on('error', reject);
    });
    await done;
    ws.close();
    const notice = messages.find((m) => m.type === 'error');
    expect(notice?.code).toBe('worker_error');
    expect(notice?.message).toMatch(/continuing on grpc:\/\/127\.0\.0\.1/);
    const audio = messages.filter((m) => m.type === 'audio');
    expect(audio.map((m) => m.sequence)).toEqual(audio.map((_, i) => i + 1));
    // The other worker spoke the rest: far more audio than arrived before the kill.
    const before = messages.slice(0, killAt).filter((m) => m.type === 'audio').length;
    expect(audio.length - before).toBeGreaterThan(150);
    // The session kept speaking through the failover: no return to LISTENING before `done`.
    const doneAt = messages.findIndex((m) => m.type === 'done');
    expect(messages.slice(killAt, doneAt).filter((m) => m.type === 'state')).toEqual([]);
  });
});
