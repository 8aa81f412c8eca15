import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface WorkerMetricsOptions {
  /** Process metrics (CPU, RSS, event-loop lag, GC). On by default; tests creating many registries may skip them. */
  defaultMetrics?: boolean;
}

/**
 * The worker's Prometheus metrics on a registry of its own (not prom-client's global one), so
 * several workers or tests in one process never collide on metric names.
 */
export class WorkerMetrics {
  readonly registry = new Registry();

  /** Text received → first audio frame sent (SPEC §8 FAL, worker side). Target well under 300 ms. */
  readonly firstAudioLatencyMs = new Histogram({
    name: 'tts_first_audio_latency_ms',
    help: 'Time from the first text chunk of a synthesis to its first audio frame, in milliseconds',
    buckets: [10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1000],
    registers: [this.registry],
  });

  /** Compute time / audio duration; below 1 is faster than realtime, which streaming needs. */
  readonly rtf = new Histogram({
    name: 'tts_rtf',
    help: 'Real-time factor per synthesis: compute time divided by audio duration',
    buckets: [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2],
    registers: [this.registry],
  });

  readonly activeSessions = new Gauge({
    name: 'tts_active_sessions',
    help: 'Sessions currently open on this worker',
    registers: [this.registry],
  });

  readonly framesSent = new Counter({
    name: 'tts_frames_sent_total',
    help: 'Audio frames (20 ms, 48 kHz) sent to clients',
    registers: [this.registry],
  });

  /** PAUSE/RESUME/STOP/RELOAD received → acknowledged; barge-in depends on PAUSE being fast. */
  readonly controlLatencyMs = new Histogram({
    name: 'tts_control_latency_ms',
    help: 'Time to apply and acknowledge a control command, in milliseconds',
    labelNames: ['command'] as const,
    buckets: [0.5, 1, 2, 5, 10, 20, 50, 100, 250],
    registers: [this.registry],
  });

  readonly modelLoads = new Counter({
    name: 'tts_model_loads_total',
    help: 'Model load attempts by model and result (ok | error)',
    labelNames: ['model', 'result'] as const,
    registers: [this.registry],
  });

  readonly synthesisErrors = new Counter({
    name: 'tts_synthesis_errors_total',
    help: 'Failed syntheses by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  // prom-client gauges and histograms are read asynchronously; discovery needs plain numbers on a
  // timer, so the values it publishes are also kept here.
  private sessions = 0;
  private rtfAverage: number | null = null;

  constructor(options: WorkerMetricsOptions = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  sessionOpened(): void {
    this.sessions += 1;
    this.activeSessions.set(this.sessions);
  }

  sessionClosed(): void {
    this.sessions = Math.max(0, this.sessions - 1);
    this.activeSessions.set(this.sessions);
  }

  /** Records one synthesis' RTF; discovery publishes a moving average so one outlier does not swing routing. */
  observeRtf(value: number): void {
    if (!Number.isFinite(value) || value < 0) return;
    this.rtf.observe(value);
    this.rtfAverage = this.rtfAverage === null ? value : 0.8 * this.rtfAverage + 0.2 * value;
  }

  /** The live figures for the discovery record (SPEC §7); `rtf` is null before the first synthesis. */
  snapshot(): { active_sessions: number; rtf: number | null } {
    return { active_sessions: this.sessions, rtf: this.rtfAverage === null ? null : Math.round(this.rtfAverage * 1000) / 1000 };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Prometheus text exposition of every metric on this registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
