/**
 * End to end over WebSocket: a TTS worker in its own process, the orchestrator in this process
 * (as `npm run orchestrator` runs it), and real `ws` clients. FAL is measured at the client
 * (text sent → first audio message received); jitter from the client's audio arrival times;
 * underruns from the orchestrator's pacers.
 */
import WebSocket from 'ws';
import type { BargeInPolicy } from '../../machines/session-machine.js';
import { orchestratorConfigFromEnv, type OrchestratorConfig, type RunningOrchestrator } from '../../orchestrator/server.js';
import { startTestOrchestrator } from '../../tests/support/orchestrator-stack.js';
import { pickRealVoice } from '../../workers/tts/voices/pick.js';
import { BENCH_SENTENCES } from '../sentences.js';
import { peakRssMb, percentile, round, summary } from '../stats.js';
import { startWorkerProcess, type WorkerProcess } from '../worker-process.js';
import { requestRealtimePriority, DEFAULT_REALTIME_PRIORITY, threadScheduling } from '../../platform/realtime-priority.js';

export const LONG_TEXT = BENCH_SENTENCES.slice(0, 4).join(' ');
const CONCURRENT_SESSIONS = 6;
/** Concurrent sessions start this far apart, as users do. */
const START_STAGGER_MS = 300;
/** Frame 0 and the pacer's 60 ms lead (3 frames) arrive together: not cadence. */
const LEAD_BURST = 3;
const FRAME_MS = 20;
/** A language model's pace for streamed text: one word per 40 ms (25 words/s). */
const STREAMED_WORD_MS = 40;

export interface Received {
  type: string;
  state?: string;
  sequence?: number;
  speech?: boolean;
  session_id?: string;
  /** performance.now() at arrival. */
  at: number;
}

/** A WebSocket client that records every message (audio without its PCM) and lets a caller wait for one. */
export class BenchClient {
  readonly messages: Received[] = [];
  private waiters: { pred: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const at = performance.now();
      const parsed = JSON.parse(data.toString()) as Omit<Received, 'at'> & { pcm?: string };
      delete parsed.pcm;
      const m: Received = { ...parsed, at };
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
  }
  static async connect(url: string): Promise<BenchClient> {
    const ws = new WebSocket(url);
    const c = new BenchClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return c;
  }
  /** The first message (from index `from` on) matching `pred`. */
  next(pred: (m: Received) => boolean, what: string, from = 0, timeoutMs = 30_000): Promise<Received> {
    const seen = this.messages.slice(from).find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.waiters.push({ pred, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }
  send(msg: object): void {
    this.ws.send(JSON.stringify(msg));
  }
  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => this.ws.once('close', () => resolve()));
    this.ws.close();
    await closed;
  }
}

export interface Stack {
  orch: RunningOrchestrator;
  worker: WorkerProcess;
  url: string;
  /** How the worker's and this process's (the orchestrator's) event loops are scheduled. */
  scheduling: { worker: string; orchestrator: string };
  stop(): Promise<void>;
}

/**
 * A worker child process plus the orchestrator in this process (static discovery, ports 0). With
 * `realtime` both ask for realtime priority as the services do by default (REALTIME_PRIORITY=10).
 */
export async function startStack(voiceId: string, bargeInPolicy: BargeInPolicy, opts: { realtime?: boolean } = {}): Promise<Stack> {
  const priority = opts.realtime ? DEFAULT_REALTIME_PRIORITY : 0;
  const worker = await startWorkerProcess(voiceId, { REALTIME_PRIORITY: String(priority) });
  try {
    const orch = await startBenchOrchestrator(voiceId, worker.port, bargeInPolicy);
    requestRealtimePriority(priority);
    return {
      orch,
      worker,
      url: `ws://127.0.0.1:${orch.ws.port}`,
      scheduling: { worker: threadScheduling(worker.child.pid as number).policy, orchestrator: threadScheduling(process.pid).policy },
      stop: async () => {
        await orch.shutdown();
        await worker.stop();
      },
    };
  } catch (err) {
    await worker.stop();
    throw err;
  }
}

/** The orchestrator of a bench stack, in this process, on the given worker. */
function startBenchOrchestrator(voiceId: string, workerPort: number, bargeInPolicy: BargeInPolicy, extra: Partial<OrchestratorConfig> = {}): Promise<RunningOrchestrator> {
  return startTestOrchestrator([`grpc://127.0.0.1:${workerPort}`], { voice: voiceId, bargeInPolicy, logLevel: 'silent', ...extra });
}

/** Connects and waits for the greeting and the first LISTENING; returns the session id too. */
export async function connectReady(url: string): Promise<{ client: BenchClient; sessionId: string }> {
  const client = await BenchClient.connect(url);
  const start = await client.next((m) => m.type === 'session_start', 'session_start');
  await client.next((m) => m.state === 'LISTENING', 'LISTENING');
  return { client, sessionId: start.session_id as string };
}

/** Says `text` and resolves with every message of the utterance up to its `done`. */
async function speak(client: BenchClient, text: string): Promise<Received[]> {
  const from = client.messages.length;
  client.send({ type: 'text', text, is_final: true });
  await client.next((m) => m.type === 'done', 'done', from, 120_000);
  return client.messages.slice(from);
}

/**
 * Says `text` as a language model streams it: word by word as `is_final:false` chunks, the last
 * one final. The orchestrator speaks each completed clause as an utterance of its own; resolves
 * with every message up to the LISTENING that follows the last one.
 */
async function speakStreamed(client: BenchClient, text: string): Promise<Received[]> {
  const from = client.messages.length;
  const words = text.split(/(?<= )/);
  let lastSentAt = 0;
  for (const [i, word] of words.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, STREAMED_WORD_MS));
    client.send({ type: 'text', text: word, is_final: i === words.length - 1 });
    lastSentAt = performance.now();
  }
  await client.next((m) => m.state === 'LISTENING' && m.at > lastSentAt, 'LISTENING after the streamed reply', from, 120_000);
  return client.messages.slice(from);
}

/**
 * What listeners hear of the replies' audio: each reply's playback starts at its first frame's
 * arrival plus the pacer's lead, and a frame that arrives after its slot is late (a gap; the
 * client re-buffers from there). `stallMs` adds up how late, over all the replies.
 */
function playoutStalls(replies: readonly (readonly Received[])[], leadMs: number): { lateFrames: number; stallMs: number } {
  let lateFrames = 0;
  let stallMs = 0;
  for (const messages of replies) {
    const arrivals = messages.filter((m) => m.type === 'audio').map((m) => m.at);
    let start = arrivals[0] as number;
    for (let n = 1; n < arrivals.length; n += 1) {
      const slot = start + leadMs + n * FRAME_MS;
      if ((arrivals[n] as number) > slot) {
        lateFrames += 1;
        stallMs += (arrivals[n] as number) - slot;
        start = (arrivals[n] as number) - leadMs - n * FRAME_MS;
      }
    }
  }
  return { lateFrames, stallMs };
}

/** Replies on several sessions at once, started `START_STAGGER_MS` apart; with the pacers' underruns. */
async function concurrentReplies(stack: Stack, say: (c: BenchClient) => Promise<Received[]>): Promise<{ replies: Received[][]; underruns: number; pacerJitterP95: number[] }> {
  const clients = await Promise.all(Array.from({ length: CONCURRENT_SESSIONS }, () => connectReady(stack.url)));
  const replies = await Promise.all(
    clients.map(async ({ client: c }, i) => {
      await new Promise((r) => setTimeout(r, i * START_STAGGER_MS));
      return say(c);
    }),
  );
  let underruns = 0;
  const pacerJitterP95: number[] = [];
  for (const { sessionId } of clients) {
    const stats = stack.orch.sessions.get(sessionId)?.runtime.pacerStats();
    if (!stats) throw new Error(`session ${sessionId} is gone before its stats were read`);
    underruns += stats.underruns;
    pacerJitterP95.push(stats.jitter.p95);
  }
  await Promise.all(clients.map(({ client: c }) => c.close()));
  return { replies, underruns, pacerJitterP95 };
}

/** The long text streamed as a language model writes it, on concurrent sessions: the listeners' stalls. */
async function streamedStalls(stack: Stack, leadMs: number): Promise<{ underruns: number; client_late_frames: number; client_stall_ms: number }> {
  const streamed = await concurrentReplies(stack, (c) => speakStreamed(c, LONG_TEXT));
  const stalls = playoutStalls(streamed.replies, leadMs);
  return { underruns: streamed.underruns, client_late_frames: stalls.lateFrames, client_stall_ms: round(stalls.stallMs) };
}

export async function e2eSuite(opts: { trials: number; voice?: string; realtime?: boolean }): Promise<Record<string, unknown>> {
  const voice = pickRealVoice(opts.voice);
  const stack = await startStack(voice.id, 'resume_if_short', opts);
  try {
    // FAL: one warm session, one sentence at a time.
    const { client } = await connectReady(stack.url);
    await speak(client, 'Warm up the voice.');
    const fal: number[] = [];
    for (let i = 0; i < opts.trials; i += 1) {
      const text = BENCH_SENTENCES[i % BENCH_SENTENCES.length] as string;
      const from = client.messages.length;
      const sent = performance.now();
      client.send({ type: 'text', text, is_final: true });
      const first = await client.next((m) => m.type === 'audio', 'first audio', from);
      fal.push(first.at - sent);
      await client.next((m) => m.type === 'done', 'done', from, 60_000);
      await client.next((m) => m.state === 'LISTENING' && m.at >= first.at, 'LISTENING', from);
    }
    await client.close();

    // Concurrency: long utterances on several sessions at once.
    const leadMs = orchestratorConfigFromEnv({}).leadMs;
    const { replies: utterances, underruns, pacerJitterP95 } = await concurrentReplies(stack, (c) => speak(c, LONG_TEXT));

    // Client-side jitter: deviation of each inter-arrival gap from 20 ms, after the lead burst.
    const gaps: number[] = [];
    for (const messages of utterances) {
      const arrivals = messages.filter((m) => m.type === 'audio').map((m) => m.at);
      for (let n = LEAD_BURST + 1; n < arrivals.length; n += 1) {
        gaps.push(Math.abs((arrivals[n] as number) - (arrivals[n - 1] as number) - FRAME_MS));
      }
    }
    // Frames that reached the client after their playout slot: what a listener hears as a gap,
    // whatever the pacer's own watchdog timer (`underruns`) saw.
    const whole = playoutStalls(utterances, leadMs);

    // The same text streamed as a language model writes it: one utterance per clause, each
    // joining the one before it in the listener's ears.
    const streamed = await streamedStalls(stack, leadMs);
    // The same again without synthesis ahead (the next clause synthesised only once the one
    // before has been sent), on a second orchestrator sharing the worker: the reference run.
    const plain = await startBenchOrchestrator(voice.id, stack.worker.port, 'resume_if_short', { reportSynthesized: false });
    const streamedPlain = await streamedStalls({ ...stack, orch: plain, url: `ws://127.0.0.1:${plain.ws.port}` }, leadMs).finally(() => plain.shutdown());

    return {
      suite: 'e2e',
      voice: voice.id,
      scheduling: stack.scheduling,
      trials: opts.trials,
      fal_ms: summary(fal),
      jitter_ms_p95: round(percentile(gaps, 95)),
      pacer_jitter_ms_p95: round(Math.max(...pacerJitterP95)),
      sessions: CONCURRENT_SESSIONS,
      underruns,
      client_late_frames: whole.lateFrames,
      client_stall_ms: round(whole.stallMs),
      streamed_text: { word_ms: STREAMED_WORD_MS, ...streamed, without_synthesis_ahead: streamedPlain },
      start_stagger_ms: START_STAGGER_MS,
      rss_mb: peakRssMb(),
    };
  } finally {
    await stack.stop();
  }
}
