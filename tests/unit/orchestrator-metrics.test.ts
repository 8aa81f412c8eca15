import { EventEmitter } from 'node:events';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { WorkerDiscovery } from '../../actors/synthesis/discovery.js';
import type { WorkerClient } from '../../actors/synthesis/worker-client.js';
import type { StreamingVad } from '../../actors/vad/detector.js';
import { createOrchestratorMetrics, metricsPlugin, type OrchestratorMetrics } from '../../orchestrator/metrics.js';
import { SessionRuntime } from '../../orchestrator/session-runtime.js';
import type { ClientConnection } from '../../transports/websocket/server.js';
import type { ServerMessage } from '../../transports/websocket/protocol.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A worker client whose Synthesize streams are driven by the test. */
function fakeWorker() {
  const calls: EventEmitter[] = [];
  const client = {
    addr: 'fake:1',
    startSession: async () => 'w1',
    endSession: async () => undefined,
    control: async () => ({}),
    synthesize: () => {
      const call = new EventEmitter();
      calls.push(call);
      return call;
    },
  } as unknown as WorkerClient;
  return { client, calls };
}

function frame(sequence: number, isFinal = false) {
  return { sessionId: 'w1', audio: isFinal ? Buffer.alloc(0) : Buffer.alloc(1920), sequence, isFinal };
}

function fakeSession(metrics: OrchestratorMetrics) {
  const sent: ServerMessage[] = [];
  const audio: number[] = [];
  const conn: ClientConnection = {
    sessionId: 's1',
    audioFormat: 'json',
    bufferedAmount: 0,
    isOpen: true,
    send: (m) => (sent.push(m), true),
    sendAudio: () => (audio.push(performance.now()), true),
    close: () => undefined,
  };
  const discovery: WorkerDiscovery = {
    list: async () => [{ name: 'w', addr: 'fake:1', languages: [], residentModels: ['v'], defaultModel: 'v', activeSessions: 0, maxSessions: 10 }],
    close: async () => undefined,
  };
  const worker = fakeWorker();
  const vad = new EventEmitter() as EventEmitter & { push: () => Promise<void>; close: () => Promise<[]> };
  vad.push = async () => undefined;
  vad.close = async () => [];
  const runtime = new SessionRuntime({
    conn,
    discovery,
    clients: () => worker.client,
    voice: 'v',
    language: 'en_US',
    machineInput: { bargeInPolicy: 'stop' },
    createVad: async () => vad as unknown as StreamingVad,
    leadMs: 60,
    log: { info: () => undefined, warn: () => undefined },
    metrics,
  });
  return { runtime, sent, audio, calls: worker.calls, vad };
}

interface Sample {
  value: number;
  labels: Record<string, string | number | undefined>;
  metricName?: string;
}

async function value(metrics: OrchestratorMetrics, name: string): Promise<Sample[]> {
  const m = await metrics.registry.getSingleMetric(name)?.get();
  return (m?.values ?? []) as Sample[];
}

describe('orchestrator metrics', () => {
  it('serves its own registry as Prometheus text at GET /metrics', async () => {
    const metrics = createOrchestratorMetrics();
    metrics.activeSessions.inc();
    metrics.transitions.inc({ from: 'LISTENING', to: 'SPEAKING', event: 'TEXT' });
    const app = Fastify();
    await app.register(metricsPlugin, { metrics });
    const res = await app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    expect(res.headers['content-type']).toContain('version=0.0.4');
    for (const name of [
      'orch_first_audio_latency_ms',
      'orch_barge_in_latency_ms',
      'orch_output_jitter_ms',
      'orch_underruns_total',
      'orch_active_sessions',
      'orch_transitions_total',
    ]) {
      expect(res.body).toContain(`# TYPE ${name}`);
    }
    expect(res.body).toContain('orch_active_sessions 1');
    expect(res.body).toContain('orch_transitions_total{from="LISTENING",to="SPEAKING",event="TEXT"} 1');
    await app.close();
    // Not the global registry: two orchestrators in one process do not collide.
    expect(() => createOrchestratorMetrics()).not.toThrow();
  });

  it('a session records first-audio latency, jitter, transitions and barge-in latency', async () => {
    const metrics = createOrchestratorMetrics();
    const s = fakeSession(metrics);
    await sleep(5);
    s.runtime.onMessage({ type: 'text', text: 'Hello there, how are you?', is_final: true });
    await sleep(20); // the synthesis call opens after the worker session
    const call = s.calls[0] as EventEmitter;
    expect(call).toBeDefined();
    for (let i = 1; i <= 12; i += 1) call.emit('data', frame(i));

    const fal = await value(metrics, 'orch_first_audio_latency_ms');
    expect(fal.find((v) => v.metricName === 'orch_first_audio_latency_ms_count')?.value).toBe(1);
    const falSum = fal.find((v) => v.metricName === 'orch_first_audio_latency_ms_sum')?.value ?? -1;
    expect(falSum).toBeGreaterThanOrEqual(15);
    expect(falSum).toBeLessThan(1000);

    await sleep(70); // a few paced frames
    await s.runtime.onAudio(Buffer.alloc(640)); // creates the VAD
    const framesBefore = s.audio.length;
    s.vad.emit('speech_start', { at: 0 });
    await sleep(60);
    expect(s.audio.length).toBe(framesBefore); // held at once
    const b = s.runtime.lastBargeIn;
    expect(b).toBeDefined();
    expect(b?.latencyMs).toBe(0); // no frame left between the edge and the hold
    expect(b?.holdAt).toBeGreaterThanOrEqual(b?.vadEdgeAt ?? Infinity);
    const barge = await value(metrics, 'orch_barge_in_latency_ms');
    expect(barge.find((v) => v.metricName === 'orch_barge_in_latency_ms_count')?.value).toBe(1);

    const transitions = await value(metrics, 'orch_transitions_total');
    const labels = transitions.map((v) => `${v.labels.from}>${v.labels.to}:${v.labels.event}`);
    expect(labels).toContain('LISTENING>SPEAKING:TEXT');
    expect(labels).toContain('SPEAKING>BARGED_IN:VAD.SPEECH_START');

    // STOP ends the utterance; the jitter samples of the frames sent are observed.
    s.runtime.onMessage({ type: 'control', command: 'STOP' });
    const jitter = await value(metrics, 'orch_output_jitter_ms');
    expect(jitter.find((v) => v.metricName === 'orch_output_jitter_ms_count')?.value).toBe(s.runtime.pacerStats().framesSent);
    expect(s.runtime.pacerStats().framesSent).toBeGreaterThan(4);
    s.runtime.onClose();
  });

  it('counts underruns from the pacer', async () => {
    const metrics = createOrchestratorMetrics();
    const s = fakeSession(metrics);
    await sleep(5);
    s.runtime.onMessage({ type: 'text', text: 'Hello there.', is_final: true });
    await sleep(20);
    const call = s.calls[0] as EventEmitter;
    call.emit('data', frame(1));
    await sleep(80); // the client's buffer runs dry while the utterance is open
    call.emit('data', frame(2));
    call.emit('data', frame(3, true));
    await sleep(60);
    const u = await value(metrics, 'orch_underruns_total');
    expect(u[0]?.value).toBe(s.runtime.pacerStats().underruns);
    expect(u[0]?.value).toBeGreaterThanOrEqual(1);
    expect(s.sent.some((m) => m.type === 'done')).toBe(true);
    s.runtime.onClose();
  });
});
