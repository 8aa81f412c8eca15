/**
 * Test support for the TTS worker over real gRPC sockets: starts a worker from a temp YAML config
 * (loaded through `loadWorkerConfig`, so the schema's defaults and checks apply), makes typed
 * clients, and wraps the RPCs in promises. Everything waits on events or polls with a deadline;
 * nothing sleeps for a fixed time.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { credentials, status, type ChannelOptions, type ServerInterceptor, type ClientDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { stringify as stringifyYaml } from 'yaml';
import { loadWorkerConfig, type WorkerConfig } from '../../workers/tts/config.js';
import {
  Command,
  ControlRequest,
  EndSessionRequest,
  LoadModelRequest,
  StartSessionRequest,
  TextChunk,
  TTSServiceClient,
  TTSServiceService,
  UnloadModelRequest,
  type AudioFrame,
  type Capabilities,
  type ControlResponse,
  type EndSessionResponse,
  type ListModelsResponse,
  type LoadModelResponse,
  type StartSessionResponse,
  type UnloadModelResponse,
} from '../../workers/tts/grpc/generated/tts.js';
import { createLogger, type LogLevel } from '../../workers/tts/logger.js';
import { startWorker, type RunningWorker, type StartWorkerOptions } from '../../workers/tts/server.js';

/** Output format (SPEC §3). */
export const FRAME_BYTES = 1920;
export const FRAME_SAMPLES = 960;
export const SAMPLE_RATE = 48_000;
export const FRAME_MS = 20;

/** Never route loopback test traffic through an http_proxy from the environment. */
export const CHANNEL_OPTIONS: ChannelOptions = { 'grpc.enable_http_proxy': 0 };

// ---------------------------------------------------------------------------------------------
// Waiting

/** Rejects with a message naming `what` if `promise` has not settled within `timeoutMs`. */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Starting a worker

/** One JSON log line as pino wrote it. */
export interface LogRecord {
  level: string;
  msg?: string;
  [key: string]: unknown;
}

export interface TestWorkerOptions {
  /** Voices root (holds `piper/<id>/`). */
  voicepacksDir: string;
  defaultModel: string;
  /** Unique per worker by default (it becomes the Redis key `worker:<name>`). */
  name?: string;
  redisUrl?: string;
  maxTextChars?: number;
  maxConcurrentSessions?: number;
  chunking?: 'stream' | 'sentence';
  preload?: string[];
  ttlSeconds?: number;
  minResidencySeconds?: number;
  maxLoaded?: number;
  /** With `captureLogs`, the level of the in-memory logger; otherwise the config's `log_level`. */
  logLevel?: LogLevel;
  /** Log through a pino logger writing JSON lines into `harness.logs` (level `info` unless `logLevel` says). */
  captureLogs?: boolean;
  /** gRPC server interceptors, e.g. a `WorkerTap` that records (and can fail) the calls the worker gets. */
  interceptors?: ServerInterceptor[];
  /** onnxruntime settings for the worker's voices, as the entry points pass them. */
  inference?: StartWorkerOptions['inference'];
}

export interface WorkerHarness {
  worker: RunningWorker;
  config: WorkerConfig;
  /** `127.0.0.1:<grpcPort>`. */
  target: string;
  /** Parsed log lines (only with `captureLogs`). */
  logs: LogRecord[];
  /** A new client on the worker's gRPC port; closed by `stop`. */
  client(): TTSServiceClient;
  /** Shuts the worker down (idempotent), closes every client and removes the temp config. */
  stop(): Promise<void>;
}

let workerCounter = 0;
const STOP_DEADLINE_MS = 15_000;

/** The YAML a test worker is configured with: ports 0 (the OS picks), loopback only, no process metrics. */
export function testWorkerYaml(opts: TestWorkerOptions): string {
  const doc = {
    name: opts.name ?? `test-worker-${process.pid}-${workerCounter++}`,
    host: '127.0.0.1',
    port: 0,
    advertise_host: '127.0.0.1',
    http_port: 0,
    redis_url: opts.redisUrl ?? '',
    capabilities: { max_concurrent_sessions: opts.maxConcurrentSessions ?? 8 },
    model_manager: {
      voicepacks_dir: opts.voicepacksDir,
      default_model: opts.defaultModel,
      preload: opts.preload ?? ['default'],
      ttl_seconds: opts.ttlSeconds ?? 600,
      min_residency_seconds: opts.minResidencySeconds ?? 60,
      max_loaded: opts.maxLoaded ?? 3,
    },
    audio: { chunking: opts.chunking ?? 'stream' },
    limits: { max_text_chars: opts.maxTextChars ?? 5000 },
    log_level: opts.logLevel ?? (opts.captureLogs ? 'info' : 'silent'),
  };
  return stringifyYaml(doc);
}

/** Starts a worker on free ports from a temp YAML config read by `loadWorkerConfig` (with an empty environment). */
export async function startTestWorker(opts: TestWorkerOptions): Promise<WorkerHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'tts-worker-test-'));
  const file = join(dir, 'worker.yaml');
  writeFileSync(file, testWorkerYaml(opts));
  // An empty environment: REDIS_URL, WORKER_PORT... of the machine running the tests must not leak in.
  const config = loadWorkerConfig(file, {});

  const logs: LogRecord[] = [];
  const logger = opts.captureLogs
    ? createLogger('tts-worker-test', opts.logLevel ?? 'info', { write: (line: string) => void logs.push(JSON.parse(line) as LogRecord) })
    : undefined;

  let worker: RunningWorker;
  try {
    worker = await startWorker(config, { logger, defaultMetrics: false, ...(opts.interceptors && { interceptors: opts.interceptors }), ...(opts.inference && { inference: opts.inference }) });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const target = `127.0.0.1:${worker.grpcPort}`;
  const clients: TTSServiceClient[] = [];
  let stopped: Promise<void> | undefined;
  return {
    worker,
    config,
    target,
    logs,
    client() {
      const c = new TTSServiceClient(target, credentials.createInsecure(), CHANNEL_OPTIONS);
      clients.push(c);
      return c;
    },
    stop() {
      stopped ??= (async () => {
        try {
          // A graceful shutdown waits for every open call; if one never ends, closing our clients
          // drops their connections so the worker can finish, and the test still hears about it.
          await withDeadline(worker.shutdown('test finished'), STOP_DEADLINE_MS, 'the worker to shut down');
        } catch (err) {
          for (const c of clients) c.close();
          await withDeadline(worker.shutdown('test finished'), STOP_DEADLINE_MS, 'the worker to shut down after its clients closed');
          throw err;
        } finally {
          for (const c of clients) c.close();
          rmSync(dir, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Unary calls as promises

type Callback<T> = (err: ServiceError | null, response: T) => void;

function unary<T>(invoke: (callback: Callback<T>) => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    invoke((err, response) => (err ? reject(err) : resolve(response)));
  });
}

export type StartSessionInput = Parameters<typeof StartSessionRequest.create>[0];

/** Typed promise wrappers for the worker's unary RPCs. */
export function rpc(client: TTSServiceClient) {
  return {
    startSession: (request: StartSessionInput = {}) =>
      unary<StartSessionResponse>((cb) => client.startSession(StartSessionRequest.create(request), cb)),
    endSession: (sessionId: string) => unary<EndSessionResponse>((cb) => client.endSession(EndSessionRequest.create({ sessionId }), cb)),
    control: (sessionId: string, command: Command) =>
      unary<ControlResponse>((cb) => client.control(ControlRequest.create({ sessionId, command }), cb)),
    listModels: () => unary<ListModelsResponse>((cb) => client.listModels({}, cb)),
    loadModel: (modelId: string) => unary<LoadModelResponse>((cb) => client.loadModel(LoadModelRequest.create({ modelId }), cb)),
    unloadModel: (modelId: string, force = false) =>
      unary<UnloadModelResponse>((cb) => client.unloadModel(UnloadModelRequest.create({ modelId, force }), cb)),
    getCapabilities: () => unary<Capabilities>((cb) => client.getCapabilities({}, cb)),
  };
}

/** The gRPC error a call failed with; throws if it succeeded or failed with something that is not a gRPC status. */
export async function grpcFailure(promise: Promise<unknown>): Promise<ServiceError> {
  let result: unknown;
  try {
    result = await promise;
  } catch (err) {
    if (typeof (err as ServiceError).code === 'number') return err as ServiceError;
    throw err;
  }
  throw new Error(`expected the call to fail, but it succeeded with ${JSON.stringify(result)}`);
}

export const statusName = (code: number): string => status[code] ?? String(code);

// ---------------------------------------------------------------------------------------------
// Synthesize streams

export interface ReceivedFrame {
  frame: AudioFrame;
  /** Client clock (Date.now) when the frame was delivered. */
  receivedAt: number;
}

/**
 * One Synthesize call seen from the client: every frame as it arrives, and a promise for the end
 * of the stream (resolves with the frames once the server closed with OK, rejects with the
 * ServiceError otherwise).
 */
export class SynthesisCall<Request = TextChunk> {
  readonly received: ReceivedFrame[] = [];
  readonly done: Promise<AudioFrame[]>;
  status: StatusObject | undefined;
  error: ServiceError | undefined;
  private readonly listeners = new Set<() => void>();

  constructor(readonly call: ClientDuplexStream<Request, AudioFrame>) {
    this.done = new Promise<AudioFrame[]>((resolve, reject) => {
      let ended = false;
      const settle = () => {
        if (ended && this.status?.code === status.OK) resolve(this.frames);
      };
      call.on('data', (frame: AudioFrame) => {
        this.received.push({ frame, receivedAt: Date.now() });
        this.notify();
      });
      call.on('error', (err: ServiceError) => {
        this.error = err;
        reject(err);
        this.notify();
      });
      call.on('status', (s: StatusObject) => {
        this.status = s;
        settle();
        this.notify();
      });
      call.on('end', () => {
        ended = true;
        settle();
        this.notify();
      });
    });
    this.done.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
  }

  get frames(): AudioFrame[] {
    return this.received.map((r) => r.frame);
  }

  /** Resolves once `predicate` holds (re-checked on every frame and on the end of the call); rejects at the deadline. */
  waitFor(predicate: (self: SynthesisCall<Request>) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (predicate(this)) {
          cleanup();
          resolve();
        } else if (this.status || this.error) {
          cleanup();
          reject(new Error(`the call ended (${this.error?.message ?? statusName(this.status?.code ?? -1)}) before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${this.received.length} frames so far)`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      this.listeners.add(check);
    });
  }

  /** Resolves once at least `n` frames have arrived. */
  waitForFrames(n: number, timeoutMs = 20_000): Promise<void> {
    return this.waitFor((s) => s.received.length >= n, `${n} frames`, timeoutMs);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

export interface SynthesisInput {
  /** Text in one chunk, or several chunks (the last one carries `is_final`). */
  text: string | string[];
  utteranceId?: string;
  /** Default true: half-close after the final chunk. */
  halfClose?: boolean;
  /** Default true: mark the last chunk `is_final`. */
  markFinal?: boolean;
  /** `start_after_ms` of the first chunk. */
  startAfterMs?: number;
}

/** Opens a Synthesize stream for `sessionId` and sends the text. */
export function startSynthesis(client: TTSServiceClient, sessionId: string, input: string | SynthesisInput): SynthesisCall {
  const opts = typeof input === 'string' ? { text: input } : input;
  const chunks = typeof opts.text === 'string' ? [opts.text] : opts.text;
  const call = client.synthesize();
  const recorder = new SynthesisCall(call);
  chunks.forEach((text, i) => {
    const last = i === chunks.length - 1;
    call.write(
      TextChunk.create({
        sessionId: i === 0 ? sessionId : '',
        text,
        isFinal: last && (opts.markFinal ?? true),
        utteranceId: i === 0 ? opts.utteranceId : undefined,
        startAfterMs: i === 0 ? opts.startAfterMs : undefined,
      }),
    );
  });
  if (opts.halfClose ?? true) call.end();
  return recorder;
}

/** Synthesizes `text` in `sessionId` and resolves with every frame once the stream ended with OK. */
export function synthesizeAll(client: TTSServiceClient, sessionId: string, text: string | SynthesisInput, timeoutMs = 30_000): Promise<AudioFrame[]> {
  return withDeadline(startSynthesis(client, sessionId, text).done, timeoutMs, 'the synthesis to finish');
}

/** The PCM of the data frames, concatenated (the empty end marker contributes nothing). */
export function pcmOf(frames: readonly AudioFrame[]): Buffer {
  return Buffer.concat(frames.map((f) => f.audio));
}

/**
 * Everything wrong with a completed synthesis by the rules of SPEC §4 / tts.proto; [] when it is
 * well-formed. The final frame may be the last data frame or an empty end marker.
 */
export function frameProblems(frames: readonly AudioFrame[], sessionId: string): string[] {
  const problems: string[] = [];
  if (frames.length === 0) return ['no frames at all'];
  frames.forEach((f, i) => {
    const at = `frame #${i} (sequence ${f.sequence})`;
    const last = i === frames.length - 1;
    if (f.sequence !== i + 1) problems.push(`${at}: expected sequence ${i + 1}`);
    if (f.sessionId !== sessionId) problems.push(`${at}: session ${f.sessionId}, expected ${sessionId}`);
    if (f.sampleRate !== SAMPLE_RATE) problems.push(`${at}: sample_rate ${f.sampleRate}`);
    if (f.frameDurationMs !== FRAME_MS) problems.push(`${at}: frame_duration_ms ${f.frameDurationMs}`);
    if (f.isFinal !== last) problems.push(`${at}: is_final ${f.isFinal}${last ? ' on the last frame' : ' before the end'}`);
    if (last) {
      if (!f.stats) problems.push(`${at}: final frame without stats`);
      if (f.audio.length !== FRAME_BYTES && f.audio.length !== 0) problems.push(`${at}: final frame of ${f.audio.length} bytes`);
    } else {
      if (f.stats) problems.push(`${at}: stats on a non-final frame`);
      if (f.audio.length !== FRAME_BYTES) problems.push(`${at}: ${f.audio.length} bytes on a non-final frame`);
    }
    if (f.audio.length === FRAME_BYTES) {
      if (f.validSamples < 1 || f.validSamples > FRAME_SAMPLES) problems.push(`${at}: valid_samples ${f.validSamples}`);
      // Only the last data frame may be short (zero-padded).
      const lastData = last || (i === frames.length - 2 && frames[frames.length - 1]!.audio.length === 0);
      if (!lastData && f.validSamples !== FRAME_SAMPLES) problems.push(`${at}: valid_samples ${f.validSamples} on an inner frame`);
    } else if (f.validSamples !== 0) {
      problems.push(`${at}: empty frame with valid_samples ${f.validSamples}`);
    }
  });
  return problems;
}

// ---------------------------------------------------------------------------------------------
// Raw (hand-encoded) Synthesize requests

/** A TextChunk whose `text` field carries `textBytes` verbatim, valid UTF-8 or not. */
export function encodeRawTextChunk(sessionId: string, textBytes: Uint8Array, isFinal = true): Uint8Array {
  const w = new BinaryWriter();
  if (sessionId) w.uint32(10).string(sessionId); // field 1, length-delimited
  w.uint32(18).bytes(textBytes); // field 2 (text): same wire type as a string, but no UTF-8 check
  if (isFinal) w.uint32(24).bool(true); // field 3, varint
  return w.finish();
}

/** Opens a Synthesize stream that sends pre-encoded messages as they are. */
export function startRawSynthesis(client: TTSServiceClient, messages: readonly Uint8Array[]): SynthesisCall<Uint8Array> {
  const call = client.makeBidiStreamRequest<Uint8Array, AudioFrame>(
    TTSServiceService.synthesize.path,
    (bytes) => Buffer.from(bytes),
    TTSServiceService.synthesize.responseDeserialize,
  );
  const recorder = new SynthesisCall(call);
  for (const m of messages) call.write(m);
  call.end();
  return recorder;
}

/** Count of live `setTimeout`/`setInterval` handles in this process. */
export function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

export { Command };
