import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { buildHealthReport, createWorkerHttp, type HealthReport } from '../../workers/tts/http.js';
import { createLogger } from '../../workers/tts/logger.js';
import { WorkerMetrics } from '../../workers/tts/metrics.js';

const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

function app(metrics = new WorkerMetrics(), health: () => HealthReport = () => REPORT) {
  const instance = createWorkerHttp({ metrics, health });
  apps.push(instance);
  return instance;
}

const REPORT: HealthReport = {
  status: 'ok',
  name: 'tts0',
  uptime_s: 12,
  models_loaded: ['en_US-lessac-medium'],
  active_sessions: 2,
  redis: 'disabled',
};

describe('worker HTTP', () => {
  it('GET /health returns the provider report as JSON', async () => {
    let calls = 0;
    const res = await app(undefined, () => (calls++, REPORT)).inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual(REPORT);
    expect(calls).toBe(1); // asked on each request, so the figures are live
  });

  it('GET /health answers 200 when degraded; the body says why', async () => {
    const degraded = buildHealthReport({ name: 'tts0', startedAt: 0, now: 5_400, modelsLoaded: ['m'], activeSessions: 0, redis: 'disconnected' });
    const res = await app(undefined, () => degraded).inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'degraded', redis: 'disconnected', uptime_s: 5 });
  });

  it('buildHealthReport: ok with a model and Redis connected or disabled; degraded with no model', () => {
    const base = { name: 'w', startedAt: Date.now(), activeSessions: 1 };
    expect(buildHealthReport({ ...base, modelsLoaded: ['m'], redis: 'connected' }).status).toBe('ok');
    expect(buildHealthReport({ ...base, modelsLoaded: ['m'], redis: 'disabled' }).status).toBe('ok');
    expect(buildHealthReport({ ...base, modelsLoaded: [], redis: 'disabled' }).status).toBe('degraded');
  });

  it('GET /metrics serves the Prometheus text format with every worker metric', async () => {
    const metrics = new WorkerMetrics();
    metrics.framesSent.inc(50);
    metrics.firstAudioLatencyMs.observe(120);
    metrics.controlLatencyMs.observe({ command: 'PAUSE' }, 3);
    metrics.modelLoads.inc({ model: 'en_US-lessac-medium', result: 'ok' });
    metrics.synthesisErrors.inc({ code: 'TEXT_TOO_LONG' });
    metrics.sessionOpened();
    metrics.observeRtf(0.2);

    const res = await app(metrics).inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const body = res.body;
    expect(body).toContain('# TYPE tts_frames_sent_total counter');
    expect(body).toMatch(/^tts_frames_sent_total 50$/m);
    expect(body).toMatch(/^tts_first_audio_latency_ms_bucket\{le="150"\} 1$/m);
    expect(body).toMatch(/^tts_first_audio_latency_ms_bucket\{le="100"\} 0$/m);
    expect(body).toContain('# TYPE tts_rtf histogram');
    expect(body).toMatch(/^tts_active_sessions 1$/m);
    expect(body).toContain('tts_control_latency_ms_count{command="PAUSE"} 1');
    expect(body).toContain('tts_model_loads_total{model="en_US-lessac-medium",result="ok"} 1');
    expect(body).toContain('tts_synthesis_errors_total{code="TEXT_TOO_LONG"} 1');
    expect(body).toContain('process_resident_memory_bytes'); // default process metrics
  });

  it('keeps each WorkerMetrics on its own registry', async () => {
    const a = new WorkerMetrics({ defaultMetrics: false });
    const b = new WorkerMetrics({ defaultMetrics: false });
    a.framesSent.inc(7);
    expect(await b.text()).toMatch(/^tts_frames_sent_total 0$/m);
    expect(await a.text()).not.toContain('process_');
  });

  it('snapshot() gives the discovery figures: session count and a smoothed RTF', () => {
    const m = new WorkerMetrics({ defaultMetrics: false });
    expect(m.snapshot()).toEqual({ active_sessions: 0, rtf: null });
    m.sessionOpened();
    m.sessionOpened();
    m.sessionClosed();
    m.observeRtf(0.1);
    m.observeRtf(0.2);
    expect(m.snapshot()).toEqual({ active_sessions: 1, rtf: 0.12 });
    m.sessionClosed();
    m.sessionClosed(); // never negative
    expect(m.snapshot().active_sessions).toBe(0);
  });

  it('404s unknown routes', async () => {
    expect((await app().inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
  });
});

describe('createLogger', () => {
  it('writes one JSON object per line with service, level label and time', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean));
        done();
      },
    });
    const log = createLogger('tts-worker', 'info', sink);
    log.info({ session: 's1' }, 'session started');
    log.debug('hidden below info');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(entry).toMatchObject({ service: 'tts-worker', level: 'info', session: 's1', msg: 'session started' });
    expect(typeof entry.time).toBe('string');
  });
});
