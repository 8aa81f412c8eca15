import type { TTSServiceClient } from '../../workers/tts/grpc/generated/tts.js';
import { Command, type AudioFrame, type ControlResponse } from '../../workers/tts/grpc/generated/tts.js';
import { pickRealVoice } from '../../workers/tts/voices/pick.js';
import { BENCH_SENTENCES } from '../sentences.js';
import { round, summary } from '../stats.js';
import { startWorkerProcess } from '../worker-process.js';
import { ensureServerBuild } from '../../scripts/compiled.mjs';
import { requestRealtimePriority, DEFAULT_REALTIME_PRIORITY, threadScheduling } from '../../platform/realtime-priority.js';

const LONG_TEXT = BENCH_SENTENCES.slice(0, 4).join(' ');
/** Client playout buffer used to judge underruns: a frame later than its slot after this is one. */
const PLAYOUT_BUFFER_MS = 200;
/**
 * Concurrent sessions start this far apart, as users do; all are active together for most of the
 * run. (Started in the same millisecond, every first chunk queues behind the others on 2 cores.)
 */
const START_STAGGER_MS = 300;

function unary<Req, Res>(fn: (req: Req, cb: (err: Error | null, res: Res) => void) => unknown, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => (err ? reject(err) : resolve(res))));
}

async function startSession(client: TTSServiceClient): Promise<string> {
  const res = await unary<{ sessionId: string; modelId: string }, { sessionId: string }>(client.startSession.bind(client), {
    sessionId: '',
    modelId: '',
  });
  return res.sessionId;
}

interface Received {
  frame: AudioFrame;
  at: number;
}

/** Runs one Synthesize; `onFrame` sees each frame as it arrives. */
function synthesize(client: TTSServiceClient, sessionId: string, text: string, onFrame?: (r: Received) => void): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const call = client.synthesize();
    const got: Received[] = [];
    call.on('data', (frame: AudioFrame) => {
      const r = { frame, at: performance.now() };
      got.push(r);
      onFrame?.(r);
    });
    call.on('error', reject);
    call.on('end', () => resolve(got));
    call.write({ sessionId, text, isFinal: true });
    call.end();
  });
}

function control(client: TTSServiceClient, sessionId: string, command: Command): Promise<ControlResponse> {
  return unary(client.control.bind(client), { sessionId, command });
}

/** Streams without underrun: every frame arrives before its playout slot. */
function underran(frames: Received[]): boolean {
  const data = frames.filter((f) => f.frame.audio.length > 0);
  const start = (data[0]?.at ?? 0) + PLAYOUT_BUFFER_MS;
  return data.some((f, k) => f.at > start + k * 20);
}

/**
 * `tsx`: the worker from its sources under tsx instead of compiled as `npm run worker` runs it.
 * `realtime`: the worker's event loop and this client's (the orchestrator's part) ask for
 * realtime priority, as the default configs do (REALTIME_PRIORITY=10); otherwise neither does.
 */
export async function workerSuite(opts: { trials: number; voice?: string; tsx?: boolean; realtime?: boolean }): Promise<Record<string, unknown>> {
  const voice = pickRealVoice(opts.voice);
  const priority = opts.realtime ? DEFAULT_REALTIME_PRIORITY : 0;
  requestRealtimePriority(priority);
  const worker = await startWorkerProcess(
    voice.id,
    { REALTIME_PRIORITY: String(priority) },
    opts.tsx ? undefined : ensureServerBuild({ quiet: true }),
  );
  try {
    const { client, controlClient } = worker;
    const session = await startSession(client);
    // Warm: both connections open and the control path run once each way (SPEC §8: figures are
    // for a warm worker), so the first trials do not measure a handshake.
    for (const via of [controlClient, client]) {
      await synthesize(client, session, 'Warm up the connection and the control path.', (r) => {
        if (r.frame.sequence === 2) void control(via, session, Command.PAUSE).then(() => control(via, session, Command.RESUME)).catch(() => undefined);
      });
    }

    const fal: number[] = [];
    const ack: number[] = [];
    /** The same PAUSE over the audio's own connection (every other trial), for comparison. */
    const ackShared: number[] = [];
    const pauseToLast: number[] = [];
    let framesAfterPause = 0;
    let computeRtf = 0;
    for (let i = 0; i < opts.trials; i += 1) {
      const text = BENCH_SENTENCES[i % BENCH_SENTENCES.length] as string;
      const t0 = performance.now();
      let pausedAt: number | undefined;
      let ackRes: ControlResponse | undefined;
      let ackAt: number | undefined;
      const done = synthesize(client, session, text, (r) => {
        if (r.frame.sequence === 1) fal.push(r.at - t0);
        if (r.frame.sequence === 3 && pausedAt === undefined) {
          pausedAt = performance.now();
          const shared = i % 2 === 1;
          const via = shared ? client : controlClient;
          void control(via, session, Command.PAUSE).then(async (res) => {
            ackAt = performance.now();
            ackRes = res;
            (shared ? ackShared : ack).push(ackAt - (pausedAt as number));
            // Three more round trips while paused: any frame sent after the ack would show up.
            for (let k = 0; k < 3; k += 1) await unary(client.getCapabilities.bind(client), {});
            await control(via, session, Command.RESUME);
          });
        }
      });
      const frames = await done;
      const ackTs = ackRes?.timestampMs ?? Number.POSITIVE_INFINITY;
      const resumeSeq = (ackRes?.lastSequence ?? 0) + 1;
      const beforeResume = frames.filter((f) => f.frame.sequence < resumeSeq || f.frame.timestampMs <= ackTs);
      const lastBefore = beforeResume[beforeResume.length - 1];
      if (pausedAt !== undefined && lastBefore) pauseToLast.push(Math.max(0, lastBefore.at - pausedAt));
      // Frames stamped by the worker after its PAUSE ack and before RESUME would break the contract.
      framesAfterPause += frames.filter((f) => f.frame.timestampMs > ackTs && f.frame.sequence <= (ackRes?.lastSequence ?? 0)).length;
      const final = frames[frames.length - 1]?.frame;
      computeRtf += final?.stats?.rtf ?? 0;
    }

    // Concurrency: N simultaneous long streams, each must keep ahead of real-time playout, up to
    // the worker's configured session limit.
    await unary(client.endSession.bind(client), { sessionId: session });
    const caps = await unary<Record<string, never>, { maxConcurrentSessions: number }>(client.getCapabilities.bind(client), {});
    const sessionLimit = caps.maxConcurrentSessions;
    let maxNoUnderrun = 0;
    let underruns = 0;
    for (let n = 1; n <= sessionLimit; n += 1) {
      const sessions = await Promise.all(Array.from({ length: n }, () => startSession(client)));
      const results = await Promise.all(
        sessions.map(async (s, i) => {
          await new Promise((r) => setTimeout(r, i * START_STAGGER_MS));
          return synthesize(client, s, LONG_TEXT);
        }),
      );
      await Promise.all(sessions.map((s) => unary(client.endSession.bind(client), { sessionId: s })));
      const bad = results.filter(underran).length;
      if (bad > 0) {
        underruns = bad;
        break;
      }
      maxNoUnderrun = n;
    }

    return {
      suite: 'worker',
      voice: voice.id,
      runtime: opts.tsx ? 'tsx' : 'compiled',
      // The event loops' scheduling while measured (realtime when permitted; README).
      scheduling: { worker: threadScheduling(worker.child.pid as number).policy, client: threadScheduling(process.pid).policy },
      trials: opts.trials,
      fal_ms: summary(fal),
      control_ack_ms: summary(ack),
      control_ack_shared_connection_ms: summary(ackShared),
      pause_to_last_frame_ms: summary(pauseToLast),
      frames_after_pause: framesAfterPause,
      rtf: round(computeRtf / opts.trials, 4),
      max_sessions_no_underrun: maxNoUnderrun,
      underruns_at_next_level: underruns,
      playout_buffer_ms: PLAYOUT_BUFFER_MS,
      start_stagger_ms: START_STAGGER_MS,
      session_limit: sessionLimit,
      rss_mb: worker.peakRssMb(),
    };
  } finally {
    await worker.stop();
  }
}
