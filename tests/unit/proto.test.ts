import {
  credentials,
  Server,
  ServerCredentials,
  status,
  type ChannelOptions,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AudioFrame,
  Capabilities,
  Command,
  ControlRequest,
  SynthesisOptions,
  TTSServiceClient,
  TTSServiceService,
  type TextChunk,
  type TTSServiceServer,
} from '../../workers/tts/grpc/generated/tts.js';

const FRAME_BYTES = 1920;

/** Never route the loopback test traffic through an http_proxy from the environment. */
const CHANNEL_OPTIONS: ChannelOptions = { 'grpc.enable_http_proxy': 0 };

describe('generated tts.proto codecs', () => {
  it('round-trips an AudioFrame, stats and 64-bit timestamp included', () => {
    const audio = Buffer.alloc(FRAME_BYTES);
    for (let i = 0; i < FRAME_BYTES; i++) audio[i] = (i * 7) & 0xff;
    const now = Date.now(); // > 2^32: exercises the int64 path (forceLong=number)
    const frame = AudioFrame.create({
      sessionId: 's-1',
      audio,
      sequence: 42,
      isFinal: true,
      sampleRate: 48_000,
      frameDurationMs: 20,
      validSamples: 613,
      timestampMs: now,
      stats: { firstFrameLatencyMs: 123.5, rtf: 0.25, stopped: true, frames: 42, audioMs: 832.77 },
      utteranceId: 'u-7',
    });

    const bytes = AudioFrame.encode(frame).finish();
    const decoded = AudioFrame.decode(bytes);

    expect(decoded).toEqual(frame);
    expect(Buffer.isBuffer(decoded.audio)).toBe(true); // env=node: bytes decode to Buffer
    expect(decoded.audio.equals(audio)).toBe(true);
    expect(typeof decoded.timestampMs).toBe('number');
    expect(decoded.timestampMs).toBe(now);
  });

  it('decodes an empty end marker with proto3 defaults and no stats', () => {
    const marker = AudioFrame.decode(AudioFrame.encode(AudioFrame.create({ sessionId: 's', sequence: 3, isFinal: true })).finish());
    expect(marker.audio.length).toBe(0);
    expect(marker.sequence).toBe(3);
    expect(marker.isFinal).toBe(true);
    expect(marker.validSamples).toBe(0);
    expect(marker.stats).toBeUndefined();
    expect(marker.utteranceId).toBeUndefined();
  });

  it('round-trips a ControlRequest', () => {
    for (const command of [Command.PAUSE, Command.RESUME, Command.STOP, Command.RELOAD]) {
      const request: ControlRequest = { sessionId: 'sess-9', command };
      expect(ControlRequest.decode(ControlRequest.encode(request).finish())).toEqual(request);
    }
    // The zero value is not written on the wire and decodes back to COMMAND_UNSPECIFIED.
    expect(ControlRequest.encode({ sessionId: '', command: Command.COMMAND_UNSPECIFIED }).finish().length).toBe(0);
    expect(ControlRequest.decode(new Uint8Array()).command).toBe(Command.COMMAND_UNSPECIFIED);
  });

  it('keeps presence for optional floats (unset vs 0)', () => {
    const unset = SynthesisOptions.decode(SynthesisOptions.encode(SynthesisOptions.create({})).finish());
    expect(unset.lengthScale).toBeUndefined();
    const zero = SynthesisOptions.decode(SynthesisOptions.encode(SynthesisOptions.create({ lengthScale: 0 })).finish());
    expect(zero.lengthScale).toBe(0);
    const set = SynthesisOptions.decode(
      SynthesisOptions.encode(SynthesisOptions.create({ speaker: '3', noiseW: 0.5, chunking: 'sentence' })).finish(),
    );
    expect(set).toMatchObject({ speaker: '3', noiseW: 0.5, chunking: 'sentence' });
    expect(set.noiseScale).toBeUndefined();
  });
});

describe('generated tts.proto service over a real grpc-js socket', () => {
  let server: Server;
  let client: TTSServiceClient;

  const CAPABILITIES = Capabilities.create({
    name: 'test-worker',
    streaming: true,
    languages: ['en_US'],
    cpuOk: true,
    maxConcurrentSessions: 4,
    residentModels: ['en_US-lessac-medium'],
    defaultModel: 'en_US-lessac-medium',
    metrics: { activeSessions: 1, rtf: 0.2, framesSent: 2 ** 40, falMsP50: 80 },
  });

  const unimplemented = (_call: unknown, callback: sendUnaryData<never>): void => {
    callback({ code: status.UNIMPLEMENTED, details: 'not in this test' });
  };

  const impl: TTSServiceServer = {
    startSession: unimplemented,
    endSession: unimplemented,
    control: unimplemented,
    listModels: unimplemented,
    loadModel: unimplemented,
    unloadModel: unimplemented,
    getCapabilities(_call: ServerUnaryCall<unknown, Capabilities>, callback: sendUnaryData<Capabilities>) {
      callback(null, CAPABILITIES);
    },
    /** Echo: collects the text, then answers with two frames, the second one final. */
    synthesize(call: ServerDuplexStream<TextChunk, AudioFrame>) {
      let sessionId = '';
      let utteranceId: string | undefined;
      let text = '';
      let answered = false;
      const answer = (): void => {
        if (answered) return;
        answered = true;
        const audio = Buffer.from(text.padEnd(FRAME_BYTES, '\0').slice(0, FRAME_BYTES), 'latin1');
        const base = { sessionId, utteranceId, sampleRate: 48_000, frameDurationMs: 20 };
        call.write(AudioFrame.create({ ...base, audio, sequence: 1, validSamples: 960, timestampMs: Date.now() }));
        call.write(
          AudioFrame.create({
            ...base,
            sequence: 2,
            isFinal: true,
            timestampMs: Date.now(),
            stats: { firstFrameLatencyMs: 1, rtf: 0.1, stopped: false, frames: 1, audioMs: 20 },
          }),
        );
        call.end();
      };
      call.on('data', (chunk: TextChunk) => {
        if (!sessionId) {
          sessionId = chunk.sessionId;
          utteranceId = chunk.utteranceId;
        }
        text += chunk.text;
        if (chunk.isFinal) answer();
      });
      call.on('end', answer);
    },
  };

  beforeAll(async () => {
    server = new Server(CHANNEL_OPTIONS);
    server.addService(TTSServiceService, impl);
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, boundPort) =>
        err ? reject(err) : resolve(boundPort),
      );
    });
    expect(port).toBeGreaterThan(0);
    client = new TTSServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), CHANNEL_OPTIONS);
  });

  afterAll(async () => {
    client?.close();
    if (server) {
      await new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
      });
    }
  });

  it('GetCapabilities returns the server\'s answer', async () => {
    const caps = await new Promise<Capabilities>((resolve, reject) => {
      client.getCapabilities({}, (err, response) => (err ? reject(err) : resolve(response)));
    });
    expect(caps).toEqual(CAPABILITIES);
    expect(caps.metrics?.framesSent).toBe(2 ** 40);
  });

  it('an unimplemented RPC fails with UNIMPLEMENTED', async () => {
    const err = await new Promise<unknown>((resolve) => {
      client.endSession({ sessionId: 'x' }, (e) => resolve(e));
    });
    expect(err).toMatchObject({ code: status.UNIMPLEMENTED });
  });

  it('Synthesize streams text in and frames out, ending with one is_final frame', async () => {
    const call = client.synthesize();
    call.write({ sessionId: 'sess-1', text: 'Hello, ', isFinal: false, utteranceId: 'u-1' });
    call.write({ sessionId: '', text: 'world.', isFinal: true });
    call.end();

    const frames: AudioFrame[] = [];
    for await (const frame of call as AsyncIterable<AudioFrame>) frames.push(frame);

    expect(frames.map((f) => f.sequence)).toEqual([1, 2]);
    expect(frames.map((f) => f.isFinal)).toEqual([false, true]);
    const [first, last] = frames as [AudioFrame, AudioFrame];
    expect(first.sessionId).toBe('sess-1');
    expect(first.utteranceId).toBe('u-1');
    expect(first.audio.length).toBe(FRAME_BYTES);
    expect(first.audio.subarray(0, 13).toString('latin1')).toBe('Hello, world.');
    expect(first.stats).toBeUndefined();
    expect(last.audio.length).toBe(0);
    expect(last.stats).toMatchObject({ stopped: false, frames: 1 });
    expect(last.timestampMs).toBeGreaterThan(1_600_000_000_000);
  });
});
