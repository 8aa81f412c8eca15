import { credentials, status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  Command,
  TTSServiceClient,
  type AudioFrame,
  type ControlResponse,
  type ModelInfo,
  type SynthesisOptions,
  type TextChunk,
} from '../../workers/tts/grpc/generated/tts.js';

/** Told about sessions opened and closed on a worker and about the worker becoming unreachable (WorkerLoadTracker). */
export interface WorkerSessionObserver {
  sessionOpened(addr: string, sessionId: string): void;
  sessionClosed(addr: string, sessionId: string): void;
  workerUnavailable(addr: string): void;
}

const unavailable = (err: unknown): boolean => (err as Partial<ServiceError> | null)?.code === status.UNAVAILABLE;

/** One TTS worker reached over gRPC (SPEC §4). */
export class WorkerClient {
  readonly client: TTSServiceClient;
  /**
   * PAUSE / RESUME / STOP go over a connection of their own: on the audio's connection the
   * acknowledgment queues behind every frame already in flight on the same TCP stream.
   */
  private readonly controlClient: TTSServiceClient;

  constructor(
    readonly addr: string,
    private readonly observer?: WorkerSessionObserver,
  ) {
    const target = addr.replace(/^grpc:\/\//, '');
    // Loopback and compose-internal addresses must never go through an HTTP proxy.
    this.client = new TTSServiceClient(target, credentials.createInsecure(), { 'grpc.enable_http_proxy': 0 });
    this.controlClient = new TTSServiceClient(target, credentials.createInsecure(), {
      'grpc.enable_http_proxy': 0,
      'grpc.use_local_subchannel_pool': 1,
    });
    // Connect both now: otherwise the first PAUSE of a barge-in would wait for a TCP and HTTP/2
    // handshake on the control connection (measured: the first acks took 10-20 ms, later 2-4).
    this.client.getChannel().getConnectivityState(true);
    this.controlClient.getChannel().getConnectivityState(true);
  }

  private unary<Req, Res>(
    method: (req: Req, cb: (err: Error | null, res: Res) => void) => unknown,
    req: Req,
    via: TTSServiceClient = this.client,
  ): Promise<Res> {
    return new Promise((resolve, reject) =>
      method.call(via, req, (err, res) => {
        if (!err) return resolve(res);
        if (unavailable(err)) this.observer?.workerUnavailable(this.addr);
        reject(err);
      }),
    );
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  async startSession(modelId = '', options?: SynthesisOptions): Promise<string> {
    const res = await this.unary<{ sessionId: string; modelId: string; options?: SynthesisOptions }, { sessionId: string }>(
      this.client.startSession,
      { sessionId: '', modelId, options },
    );
    this.observer?.sessionOpened(this.addr, res.sessionId);
    return res.sessionId;
  }

  async endSession(sessionId: string): Promise<void> {
    try {
      await this.unary(this.client.endSession, { sessionId });
    } finally {
      this.observer?.sessionClosed(this.addr, sessionId);
    }
  }

  control(sessionId: string, command: Command): Promise<ControlResponse> {
    return this.unary(this.controlClient.control, { sessionId, command }, this.controlClient);
  }

  async listModels(): Promise<ModelInfo[]> {
    const res = await this.unary<object, { models: ModelInfo[] }>(this.client.listModels, {});
    return res.models;
  }

  /**
   * Opens a Synthesize stream for one utterance; the caller reads frames from it. `startAfterMs`:
   * the listener hears none of it before then (audio queued ahead of it).
   */
  synthesize(sessionId: string, text: string, utteranceId: string, startAfterMs?: number): ClientDuplexStream<TextChunk, AudioFrame> {
    const call = this.client.synthesize();
    // An extra listener only observes: whoever reads the stream still gets the error.
    call.on('error', (err) => {
      if (unavailable(err)) this.observer?.workerUnavailable(this.addr);
    });
    call.write({ sessionId, text, isFinal: true, utteranceId, ...(startAfterMs !== undefined && { startAfterMs }) });
    call.end();
    return call;
  }

  close(): void {
    this.client.close();
    this.controlClient.close();
  }
}

export { Command };
