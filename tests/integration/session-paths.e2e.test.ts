/**
 * Every generated session path (machines/paths.ts, the same paths the unit path test replays on
 * the machine with recording doubles) replayed END TO END: a real TTS worker with the real voice
 * (en_US-joe-medium) over gRPC, the real orchestrator over WebSocket, one WebSocket session per
 * path, many at once. tests/support/path-e2e.ts maps each stimulus to its real-world cause and
 * checks, after every step, the `state` messages, the worker's calls (seen on the worker's own
 * gRPC socket by an interceptor) and the audio that arrives.
 *
 * Real causes: text and control are WebSocket messages; VAD speech start / end are real speech
 * (espeak-ng) and silence streamed as binary microphone frames, decided by the orchestrator's
 * Silero VAD (streamed faster than real time: its debounce counts audio time); utterance done is
 * the pacer draining the utterance; the barge-in limit is waited out on orchestrators configured
 * with a short max_barged_in_ms (one per policy, used by those paths only); transport closed is
 * closing the socket; a worker error is the worker failing for real at its gRPC layer (the
 * session's Synthesize stream delivers 8 frames, stalls, then ends with INTERNAL "synthesis
 * failed" — a stalled stream, because a short utterance's stream is otherwise already complete
 * when the next step comes, and then no failure can reach it; in LISTENING before any utterance,
 * the worker refuses the session's prewarm StartSession instead, the only worker call a LISTENING
 * session has in flight). Not UNAVAILABLE: the orchestrator rightly takes that for a dead worker
 * and avoids it for a while in every session, so one path's fault would spill into the others.
 *
 * No real cause exists for two stimuli; the runner sends those into the real session actor inside
 * the orchestrator and checks the state messages and worker calls that follow (not the audio):
 * - UTTERANCE.DONE for an utterance that is not current (the machine's stale-done guard): the
 *   orchestrator never sends one — STOP flushes the pacer together with the pending end, and
 *   frames of a stopped stream are dropped.
 * - UTTERANCE.DONE while PAUSED: the pacer holds the output and fires no done for a held
 *   utterance (the pause contract documented in machines/session-machine.ts).
 * Both only ever occur as the LAST step of a path (asserted), so every other step of those paths
 * is caused for real. UTTERANCE.SYNTHESIZED (the worker finished an utterance's stream) happens
 * on its own, soon after each synthesis starts; these orchestrators do not report it by
 * themselves, and the runner delivers it where the path puts it, once the worker really has
 * finished that stream (for one no longer being produced, a stale report, it is injected). Also not observable by a client: the TERMINATED state message (the client
 * closed the socket it would arrive on); the runner checks the session actor's final state.
 *
 * The test fails if any generated path is not replayed, or needs an injection of another kind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliversSynthesized, endToEndPaths } from '../../machines/path-cover.js';
import { generatePaths, type SessionPath } from '../../machines/paths.js';
import { BARGE_IN_POLICIES, type BargeInPolicy } from '../../machines/session-machine.js';
import type { RunningOrchestrator } from '../../orchestrator/server.js';
import { voicepacksDir } from '../../workers/tts/voices/voicepack.js';
import { speechKit, type SpeechKit } from '../fixtures/vad-signals.js';
import { REAL_VOICE, requireRealVoice, startTestOrchestrator } from '../support/orchestrator-stack.js';
import { describeStimulus, InconclusiveReplay, Lock, micSignals, replayEndToEnd, type E2eStack, type OrchestratorProfile, type PathOutcome } from '../support/path-e2e.js';
import { startTestWorker, type WorkerHarness } from '../support/worker-harness.js';
import { WorkerTap } from '../support/worker-tap.js';

/** Sessions replayed at once against the one worker. */
const CONCURRENCY = 24;
/**
 * Of those, how many may be paths that deliver UTTERANCE.SYNTHESIZED. Such a path waits for the
 * worker to end each stream right after it starts, then still has to cause its other steps
 * before the pacer finishes the utterance: the worker must stay well ahead of real time.
 */
const AHEAD_CONCURRENCY = 4;
/** Replays of a path whose done overtook its steps (InconclusiveReplay) before it counts as failed. */
const ATTEMPTS = 4;
/** max_barged_in_ms of the orchestrators that replay the barge-in-limit paths. */
const ELAPSE_MAX_BARGE_IN_MS = 600;
const STEP_TIMEOUT_MS = 30_000;

const allPaths = JSON.parse(JSON.stringify(generatePaths())) as SessionPath[];
const generated = endToEndPaths(allPaths);
// Debugging aid: SESSION_PATHS_ONLY=<regexp of path ids> replays only those (the last test then fails).
const only = process.env.SESSION_PATHS_ONLY ? new RegExp(process.env.SESSION_PATHS_ONLY) : undefined;
const paths = generated.filter((p) => !only || only.test(p.id));
const results = new Map<string, PathOutcome | Error>();
const attemptsOf = new Map<string, number>();
let wallMs = 0;

describe('generated session paths, end to end (WebSocket → orchestrator → gRPC → worker, real voice)', () => {
  let worker: WorkerHarness | undefined;
  let speech: SpeechKit | undefined;
  const tap = new WorkerTap();
  const orchestrators = new Map<string, RunningOrchestrator>();

  beforeAll(async () => {
    requireRealVoice();
    speech = speechKit();
    worker = await startTestWorker({
      voicepacksDir: voicepacksDir(),
      defaultModel: REAL_VOICE,
      maxConcurrentSessions: 512,
      interceptors: [tap.interceptor],
    });
    const addr = `grpc://${worker.target}`;
    for (const policy of BARGE_IN_POLICIES) {
      const input = paths.find((p) => p.input.bargeInPolicy === policy)?.input;
      if (!input) continue; // only with SESSION_PATHS_ONLY (the final test then fails)
      for (const profile of ['main', 'elapse'] as const) {
        const maxBargeInMs = profile === 'elapse' ? ELAPSE_MAX_BARGE_IN_MS : input.maxBargeInMs;
        orchestrators.set(
          `${policy}/${profile}`,
          // The paths say where the worker's "synthesized" reaches the session (see path-e2e.ts).
          await startTestOrchestrator([addr], { bargeInPolicy: policy, shortInterjectionMs: input.shortInterjectionMs, maxBargeInMs, inspection: false, reportSynthesized: false }),
        );
      }
    }
    const stack: E2eStack = {
      tap,
      orchestrator: (policy: BargeInPolicy, profile: OrchestratorProfile) => {
        const o = orchestrators.get(`${policy}/${profile}`);
        if (!o) throw new Error(`no orchestrator for ${policy}/${profile}`);
        return o;
      },
      elapseMaxBargeInMs: ELAPSE_MAX_BARGE_IN_MS,
      mic: micSignals(speech),
      openLock: new Lock(),
      timeoutMs: STEP_TIMEOUT_MS,
    };
    // Longest paths first, so the run does not end on a straggler.
    const byLength = [...paths].sort((a, b) => b.steps.length - a.steps.length);
    // The paths that deliver UTTERANCE.SYNTHESIZED run after the others, fewer at once; an
    // inconclusive replay is replayed again last, alone, while the worker has nothing else to do
    // for this file (the other test files may still load the machine).
    const retries: SessionPath[] = [];
    const phases = [
      { queue: byLength.filter((p) => !deliversSynthesized(p)), workers: CONCURRENCY },
      { queue: byLength.filter(deliversSynthesized), workers: AHEAD_CONCURRENCY },
      { queue: retries, workers: 1 },
    ];
    const t0 = performance.now();
    for (const { queue, workers } of phases) {
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (let path = queue.shift(); path; path = queue.shift()) {
            const attempts = (attemptsOf.get(path.id) ?? 0) + 1;
            attemptsOf.set(path.id, attempts);
            try {
              results.set(path.id, await replayEndToEnd(path, stack));
            } catch (err) {
              const error = err instanceof Error ? err : new Error(String(err));
              results.set(path.id, error);
              if (error instanceof InconclusiveReplay && attempts < ATTEMPTS) {
                console.log(`inconclusive, replayed again: ${error.message.split('\n')[0] ?? ''}`);
                retries.push(path);
              }
            }
          }
        }),
      );
    }
    wallMs = performance.now() - t0;
  }, 300_000);

  afterAll(async () => {
    for (const o of orchestrators.values()) await o.shutdown();
    await worker?.stop();
    speech?.dispose();
  });

  describe.each(paths.map((p) => [`${p.id}: ${p.steps.map((s) => describeStimulus(s.stimulus)).join(' → ')}`, p] as const))('%s', (_title, path) => {
    it('replays end to end with the states, worker calls and audio of SPEC §6', () => {
      const result = results.get(path.id);
      if (result instanceof Error) throw result;
      expect(result, `${path.id} was not replayed`).toBeDefined();
      expect(result?.steps).toHaveLength(path.steps.length);
    });
  });

  it('replays every generated path, injecting only the documented stimuli, and only as a last step but for stale stream ends', () => {
    const outcomes = [...results.values()].filter((r): r is PathOutcome => !(r instanceof Error));
    const failed = [...results.entries()].filter(([, r]) => r instanceof Error).map(([id]) => id);
    const steps = outcomes.flatMap((o) => o.steps);
    const injected = outcomes.filter((o) => o.steps.some((s) => s.injected));
    const summary = {
      generated: allPaths.length,
      paths: generated.length,
      replayed_end_to_end: outcomes.length,
      failed: failed.length,
      all_steps_caused: outcomes.length - injected.length,
      last_step_injected: injected.length,
      steps: steps.length,
      injected_steps: steps.filter((s) => s.injected).length,
      replayed_again: [...attemptsOf.values()].reduce((sum, n) => sum + n - 1, 0),
      wall_s: Number((wallMs / 1000).toFixed(1)),
      path_ms_p50: Math.round(outcomes.map((o) => o.ms).sort((a, b) => a - b)[Math.floor(outcomes.length / 2)] ?? 0),
    };
    console.log(`session paths end to end: ${JSON.stringify(summary)}`);
    expect(failed).toEqual([]);
    expect(outcomes.map((o) => o.id).sort(), 'paths not replayed end to end').toEqual(generated.map((p) => p.id).sort());
    for (const o of injected) {
      // A stale "synthesized" changes nothing, so it may come anywhere; the others end the path.
      const early = o.steps.slice(0, -1).filter((s) => s.injected && !s.stimulus.startsWith('UTTERANCE.SYNTHESIZED'));
      expect(early, `${o.id}: injected before its last step`).toEqual([]);
      expect(o.steps.filter((s) => s.injected).at(-1)?.stimulus, o.id).toMatch(/^UTTERANCE\.(DONE|SYNTHESIZED)/);
    }
    // Every call the worker got belongs to a session some path opened and ended.
    const starts = tap.calls.filter((c) => c.rpc === 'StartSession').map((c) => c.sessionId);
    expect(new Set(tap.calls.map((c) => c.sessionId))).toEqual(new Set(starts));
    expect(tap.calls.filter((c) => c.rpc === 'EndSession').map((c) => c.sessionId).sort()).toEqual([...starts].sort());
  });
});
