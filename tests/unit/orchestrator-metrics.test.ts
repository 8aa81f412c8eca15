import { EventEmitter } from 'node:events';
import Fastify from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import type { WorkerClient } from '../../actors/synthesis/worker-client.js';
import type { StreamingVad } from '../../actors/vad/detector.js';
import { createOrchestratorMetrics, metricsPlugin, type OrchestratorMetrics } from '../../orchestrator/metrics.js';
import { SessionRuntime } from '../../orchestrator/session-runtime.js';
import { waitFor } from '../helpers/poll.js';
import { fakeConnection, oneFakeWorker } from '../support/runtime-fakes.js';

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

type LogLine = { fields: object; msg: string | undefined };

function fakeSession(metrics: OrchestratorMetrics, { policy = 'stop', logged = [] }: { policy?: 'stop' | 'resume_if_short'; logged?: LogLine[] } = {}) {
  const audio: number[] = [];
  const { conn, sent } = fakeConnection(() => audio.push(performance.now()));
  const discovery = oneFakeWorker;
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
    machineInput: { bargeInPolicy: policy, shortInterjectionMs: 700 },
    createVad: async () => vad as unknown as StreamingVad,
    leadMs: 60,
    log: { info: (fields, msg) => logged.push({ fields, msg }), warn: () => undefined },
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
    const sentAt = performance.now();
    s.runtime.onMessage({ type: 'text', text: 'Hello there, how are you?', is_final: true });
    const call = await waitFor(() => s.calls[0], 'the synthesis call (opened after the worker session)');
    const firstFrameAt = performance.now();
    for (let i = 1; i <= 12; i += 1) call.emit('data', frame(i));
    const firstSentBy = performance.now();

    // The first frame goes out as it arrives: first-audio latency lies between the two clocks.
    const fal = await value(metrics, 'orch_first_audio_latency_ms');
    expect(fal.find((v) => v.metricName === 'orch_first_audio_latency_ms_count')?.value).toBe(1);
    const falSum = fal.find((v) => v.metricName === 'orch_first_audio_latency_ms_sum')?.value ?? -1;
    expect(falSum).toBeGreaterThanOrEqual(firstFrameAt - sentAt - 1);
    expect(falSum).toBeLessThanOrEqual(firstSentBy - sentAt + 1);

    await waitFor(() => s.audio.length > 4, 'a paced frame after the lead burst');
    await s.runtime.onAudio(Buffer.alloc(640)); // creates the VAD
    const framesBefore = s.audio.length;
    s.vad.emit('speech_start', { at: 0 });
    // Held inside the VAD edge's handling: nothing more went out and the rest waits in the pacer.
    expect(s.audio.length).toBe(framesBefore);
    expect(s.runtime.pacerStats()).toMatchObject({ held: true });
    expect(s.runtime.pacerStats().queued).toBe(12 - framesBefore);
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

  it('logs one line per barge-in with the speech length the VAD measured and whether the reply resumed', async () => {
    const logged: LogLine[] = [];
    const s = fakeSession(createOrchestratorMetrics(), { policy: 'resume_if_short', logged });
    const states = () => s.sent.flatMap((m) => (m.type === 'state' ? [m.state] : []));
    s.runtime.onMessage({ type: 'text', text: 'Hello there, how are you?', is_final: true });
    const call = await waitFor(() => s.calls[0], 'the synthesis call');
    for (let i = 1; i <= 40; i += 1) call.emit('data', frame(i));
    await s.runtime.onAudio(Buffer.alloc(640)); // creates the VAD
    s.vad.emit('speech_end', { at: 0, speechMs: 2000 }); // speech ending while the agent speaks is no barge-in
    s.vad.emit('speech_start', { at: 0 });
    s.vad.emit('speech_end', { at: 400, speechMs: 412.4 });
    s.vad.emit('speech_start', { at: 1000 });
    s.vad.emit('speech_end', { at: 2200, speechMs: 1200 });
    expect(states()).toEqual(['LISTENING', 'SPEAKING', 'BARGED_IN', 'SPEAKING', 'BARGED_IN', 'LISTENING']);
    expect(logged.filter((l) => l.msg === 'Barge-in ended').map((l) => l.fields)).toEqual([
      { speechMs: 412, resumed: true },
      { speechMs: 1200, resumed: false },
    ]);
    s.runtime.onClose();
  });

  it('counts underruns from the pacer', async () => {
    const metrics = createOrchestratorMetrics();
    const s = fakeSession(metrics);
    s.runtime.onMessage({ type: 'text', text: 'Hello there.', is_final: true });
    const call = await waitFor(() => s.calls[0], 'the synthesis call');
    call.emit('data', frame(1));
    // The utterance is open and the client's buffer runs dry: the pacer counts it.
    await waitFor(() => s.runtime.pacerStats().underruns >= 1, 'an underrun');
    call.emit('data', frame(2));
    call.emit('data', frame(3, true));
    await waitFor(() => s.sent.some((m) => m.type === 'done'), 'the utterance done');
    const u = await value(metrics, 'orch_underruns_total');
    expect(u[0]?.value).toBe(s.runtime.pacerStats().underruns);
    expect(u[0]?.value).toBeGreaterThanOrEqual(1);
    s.runtime.onClose();
  });
});

describe('session runtime after the client is gone', () => {
  it('drops the VAD edge its closing flush emits: no message on the closed connection, no event to the stopped actor', async () => {
    const s = fakeSession(createOrchestratorMetrics());
    await s.runtime.onAudio(Buffer.alloc(640)); // creates the VAD
    s.vad.emit('speech_start', { at: 0 });
    expect(s.sent.filter((m) => m.type === 'vad')).toHaveLength(1);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      const before = s.sent.length;
      s.runtime.onClose();
      s.vad.emit('speech_end', { at: 400, speechMs: 400 }); // what closing the VAD mid-speech does
      await s.runtime.onAudio(Buffer.alloc(640));
      s.runtime.onClose(); // a second close is harmless
      expect(s.sent.slice(before).filter((m) => m.type === 'vad')).toEqual([]);
      const complaints = [...warn.mock.calls, ...error.mock.calls].map((c) => c.map(String).join(' '));
      expect(complaints.filter((c) => c.includes('stopped actor'))).toEqual([]);
    } finally {
      warn.mockRestore();
      error.mockRestore();
    }
  });
});
