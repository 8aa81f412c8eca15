import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  Command,
  TTSServiceClient,
  type AudioFrame,
  type ControlResponse,
  type ModelInfo,
  type SynthesisOptions,
  type TextChunk,
} from '../../workers/tts/grpc/generated/tts.js';

/** One TTS worker reached over gRPC (SPEC §4). */
export class WorkerClient {
  readonly client: TTSServiceClient;

  constructor(readonly addr: string) {
    const target = addr.replace(/^grpc:\/\//, '');
    // Loopback and compose-internal addresses must never go through an HTTP proxy.
    this.client = new TTSServiceClient(target, credentials.createInsecure(), { 'grpc.enable_http_proxy': 0 });
  }

  private unary<Req, Res>(method: (req: Req, cb: (err: Error | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
    return new Promise((resolve, reject) => method.call(this.client, req, (err, res) => (err ? reject(err) : resolve(res))));
  }

  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  async startSession(modelId = '', options?: SynthesisOptions): Promise<string> {
    const res = await this.unary<{ sessionId: string; modelId: string; options?: SynthesisOptions }, { sessionId: string }>(
      this.client.startSession,
      { sessionId: '', modelId, options },
    );
    return res.sessionId;
  }

  async endSession(sessionId: string): Promise<void> {
    await this.unary(this.client.endSession, { sessionId });
  }

  control(sessionId: string, command: Command): Promise<ControlResponse> {
    return this.unary(this.client.control, { sessionId, command });
  }

  async listModels(): Promise<ModelInfo[]> {
    const res = await this.unary<object, { models: ModelInfo[] }>(this.client.listModels, {});
    return res.models;
  }

  /** Opens a Synthesize stream for one utterance; the caller reads frames from it. */
  synthesize(sessionId: string, text: string, utteranceId: string): ClientDuplexStream<TextChunk, AudioFrame> {
    const call = this.client.synthesize();
    call.write({ sessionId, text, isFinal: true, utteranceId });
    call.end();
    return call;
  }

  close(): void {
    this.client.close();
  }
}

export { Command };
