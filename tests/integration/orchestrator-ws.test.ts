import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOrchestrator } from '../../orchestrator/server.js';
import { voicepacksDir } from '../../workers/tts/voices/voicepack.js';
import { requireRealVoice, startTestOrchestrator } from '../support/orchestrator-stack.js';
import { concat, msToSamples, speechKit, toBytes, type SpeechKit } from '../fixtures/vad-signals.js';
import { startTestWorker, type WorkerHarness } from '../support/worker-harness.js';

const VOICE = 'en_US-joe-medium';
const LONG_TEXT =
  'The museum opens at nine and the guided tour starts an hour later. After the storm passed, the children ran outside to splash in the puddles.';

interface Received {
  type: string;
  state?: string;
  sequence?: number;
  pcm?: string;
  at: number;
}

/** A WebSocket client that records every message and lets a test wait for one. */
class Client {
  readonly messages: Received[] = [];
  private waiters: { pred: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = { ...(JSON.parse(data.toString()) as Omit<Received, 'at'>), at: performance.now() };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
  }
  static async connect(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }
  next(pred: (m: Received) => boolean, what: string, timeoutMs = 20_000): Promise<Received> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${this.messages.map((m) => m.state ?? m.type).join(' ')}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }
  send(msg: object): void {
    this.ws.send(JSON.stringify(msg));
  }
  states(): string[] {
    return this.messages.filter((m) => m.type === 'state').map((m) => m.state as string);
  }
  close(): void {
    this.ws.close();
  }
}

describe('orchestrator over WebSocket, with a real worker and the real voice', () => {
  let worker: WorkerHarness;
  let orch: RunningOrchestrator;
  let speech: SpeechKit;
  let url: string;

  beforeAll(async () => {
    requireRealVoice(VOICE);
    worker = await startTestWorker({ voicepacksDir: voicepacksDir(), defaultModel: VOICE });
    orch = await startTestOrchestrator([`grpc://${worker.target}`], { bargeInPolicy: 'stop' });
    url = `ws://127.0.0.1:${orch.ws.port}`;
    speech = speechKit();
  }, 120_000);

  afterAll(async () => {
    await orch?.shutdown();
    await worker?.stop();
    speech?.dispose();
  });

  it('greets, speaks text as 20 ms frames at real-time pace, then says done and returns to LISTENING', async () => {
    const c = await Client.connect(url);
    try {
      const start = await c.next((m) => m.type === 'session_start', 'session_start');
      expect(c.messages[0]).toBe(start);
      await c.next((m) => m.state === 'LISTENING', 'LISTENING');
      const sent = performance.now();
      c.send({ type: 'text', text: 'Hello there, how are you doing today?', is_final: true });
      await c.next((m) => m.state === 'SPEAKING', 'SPEAKING');
      const first = await c.next((m) => m.type === 'audio', 'audio');
      expect(first.at - sent).toBeLessThan(1500);
      await c.next((m) => m.type === 'done', 'done');
      await c.next((m) => m.state === 'LISTENING' && m.at > first.at, 'LISTENING after done');
      const audio = c.messages.filter((m) => m.type === 'audio');
      expect(audio.length).toBeGreaterThan(50);
      for (const a of audio) expect(Buffer.from(a.pcm as string, 'base64').length).toBe(1920);
      expect(audio.map((a) => a.sequence)).toEqual(audio.map((_, i) => i + 1));
      // Paced: the frames span about their own duration (the pacer's lead is 60 ms).
      const span = (audio[audio.length - 1] as Received).at - (audio[0] as Received).at;
      expect(span).toBeGreaterThan(audio.length * 20 - 200);
    } finally {
      c.close();
    }
  });

  it('publishes every session actor live at /inspect, without audio', async () => {
    const httpPort = (orch.http.server.address() as { port: number }).port;
    const viewer = new WebSocket(`ws://127.0.0.1:${httpPort}/inspect`);
    const events: { type: string; snapshot?: { value?: unknown }; event?: { type?: string } }[] = [];
    const raw: string[] = [];
    const isSpeaking = (e: (typeof events)[number]) => e.type === '@xstate.snapshot' && JSON.stringify(e.snapshot?.value ?? '').includes('SPEAKING');
    let sawSpeaking: () => void = () => undefined;
    const speaking = new Promise<void>((resolve) => (sawSpeaking = resolve));
    viewer.on('message', (d) => {
      raw.push(d.toString());
      const e = JSON.parse(d.toString()) as (typeof events)[number];
      events.push(e);
      if (isSpeaking(e)) sawSpeaking();
    });
    await new Promise<void>((resolve, reject) => {
      viewer.once('open', () => resolve());
      viewer.once('error', reject);
    });
    const c = await Client.connect(url);
    try {
      await c.next((m) => m.state === 'LISTENING', 'LISTENING');
      c.send({ type: 'text', text: 'Inspect me, please.', is_final: true });
      await c.next((m) => m.type === 'done', 'done');
      await speaking;
      expect(events.some((e) => e.type === '@xstate.event' && e.event?.type === 'TEXT')).toBe(true);
      // Audio frames are 1920 bytes, 2560 characters of base64: nothing that long is published.
      expect(raw.some((m) => /[A-Za-z0-9+/]{2000,}/.test(m))).toBe(false);
    } finally {
      c.close();
      viewer.close();
    }
  });

  it('session_start with an unknown voice gets unknown_voice and the session keeps its voice', async () => {
    const c = await Client.connect(url);
    try {
      await c.next((m) => m.state === 'LISTENING', 'LISTENING');
      c.send({ type: 'session_start', voice: 'xx_XX-nobody-medium' });
      const err = await c.next((m) => m.type === 'error', 'unknown_voice error');
      const { code, message } = err as unknown as { code: string; message: string };
      expect(code).toBe('unknown_voice');
      // Says what to do; the worker's reason (its directories, gRPC codes) stays in the server log.
      expect(message).toBe('voice "xx_XX-nobody-medium" is not available; {"type":"voices"} lists the voices');
      c.send({ type: 'text', text: 'Still speaking.', is_final: true });
      await c.next((m) => m.type === 'done', 'done with the old voice');
    } finally {
      c.close();
    }
  });

  it('a text sent right behind a switch to an unknown voice is spoken in the kept voice', async () => {
    const c = await Client.connect(url);
    try {
      await c.next((m) => m.state === 'LISTENING', 'LISTENING');
      // Both in one go: the text arrives while the switch is still being checked with the worker.
      c.send({ type: 'session_start', voice: 'xx_XX-nobody-medium' });
      c.send({ type: 'text', text: 'Still speaking.', is_final: true });
      await c.next((m) => m.type === 'done', 'done with the kept voice');
      const errors = c.messages.filter((m) => m.type === 'error').map((m) => (m as unknown as { code: string }).code);
      expect(errors).toEqual(['unknown_voice']);
      expect(c.messages.filter((m) => m.type === 'audio').length).toBeGreaterThan(10);
      // A list asked for right behind a refused switch already names the kept voice.
      c.send({ type: 'session_start', voice: 'xx_XX-nobody-medium' });
      c.send({ type: 'voices' });
      const list = (await c.next((m) => m.type === 'voices', 'voices')) as unknown as { current: string };
      expect(list.current).toBe(VOICE);
      expect(c.messages.filter((m) => m.type === 'error')).toHaveLength(2);
    } finally {
      c.close();
    }
  });

  it('voices lists what the workers offer (the current voice marked); session_end ends the session', async () => {
    const c = await Client.connect(url);
    try {
      await c.next((m) => m.state === 'LISTENING', 'LISTENING');
      c.send({ type: 'voices' });
      const list = (await c.next((m) => m.type === 'voices', 'voices')) as unknown as { current: string; voices: { id: string; language: string; loaded: boolean }[] };
      expect(list.current).toBe(VOICE);
      expect(list.voices).toContainEqual({ id: VOICE, language: 'en_US', loaded: true });
      const closed = new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));
      c.send({ type: 'session_end' });
      const end = (await c.next((m) => m.type === 'session_end', 'session_end')) as unknown as { reason: string };
      expect(end.reason).toBe('client_ended');
      await closed;
      expect(c.states().at(-1)).toBe('LISTENING');
    } finally {
      c.close();
    }
  });

  it('bad input gets an error and the session lives on', async () => {
    const c = await Client.connect(url);
    try {
      await c.next((m) => m.state === 'LISTENING', 'LISTENING');
      c.ws.send('{not json');
      c.send({ type: 'text', text: 42 });
      c.send({ type: 'nonsense' });
      c.ws.send(Buffer.from([1, 2, 3]));
      await c.next((m) => m.type === 'error' && c.messages.filter((x) => x.type === 'error').length >= 4, 'four errors');
      c.send({ type: 'text', text: 'Still here.', is_final: true });
      await c.next((m) => m.type === 'done', 'done after bad input');
    } finally {
      c.close();
    }
  });

  it('barge-in: real speech on the microphone holds the audio at once, then STOP (stop policy)', async () => {
    const c = await Client.connect(url);
    try {
      await c.next((m) => m.state === 'LISTENING', 'LISTENING');
      c.send({ type: 'text', text: LONG_TEXT, is_final: true });
      await c.next((m) => m.type === 'audio' && (m.sequence ?? 0) >= 25, 'half a second of audio');
      // The user talks over it: 16 kHz speech sent as 20 ms microphone frames at real time.
      const mic = concat(speech.speak('Wait, stop, I have a question.'), msToSamples(800));
      const frame = msToSamples(20);
      let barged: Received | undefined;
      const bargedIn = c.next((m) => m.state === 'BARGED_IN', 'BARGED_IN').then((m) => (barged = m));
      const started = performance.now();
      for (let i = 0; i < mic.length && !barged; i += frame) {
        c.ws.send(toBytes(mic.subarray(i, i + frame)));
        // Microphone audio arrives at real time: pacing the send is the point, not a wait.
        const due = started + (i + frame) / 16;
        await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
      }
      await bargedIn;
      const heldAt = (barged as Received).at;
      // Silence follows, speech ends -> stop policy -> LISTENING.
      for (let i = 0; i < 30; i += 1) c.ws.send(toBytes(new Int16Array(frame)));
      const listening = await c.next((m) => m.state === 'LISTENING' && m.at > heldAt, 'LISTENING after barge-in');
      // Ordered on one socket: no audio message may follow the BARGED_IN state message.
      const afterHold = c.messages.slice(c.messages.indexOf(barged as Received)).filter((m) => m.type === 'audio');
      expect(afterHold).toEqual([]);
      expect(c.states()).toContain('BARGED_IN');
      expect(listening.at).toBeGreaterThan(heldAt);
    } finally {
      c.close();
    }
  });
});
