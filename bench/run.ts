/**
 * Benchmarks: `npm run bench -- --suite NAME [--json] [--trials N] [--voice ID] [--tsx] [--normal-priority]`.
 * The engine and worker suites run the engine in a process of its own, compiled and configured as
 * `npm run worker` and the container images run it; `--tsx` runs it from the sources under tsx.
 * The worker, e2e and barge-in suites run the worker and the orchestrator (or the client standing
 * in for it) as the default configs do, their event loops at realtime priority where permitted;
 * `--normal-priority` runs them as with REALTIME_PRIORITY=0.
 * The last stdout line with --json is one JSON object (fields per SPEC §9).
 */
import { parseCommandLine, usageError } from '../scripts/command-line.js';

const SUITES = ['engine', 'resampler', 'ort-options', 'worker', 'vad', 'e2e', 'barge-in', 'browser', 'webrtc'] as const;
const USAGE = `usage: npm run bench -- --suite NAME [--json] [--trials N] [--voice ID] [--tsx] [--normal-priority]
  --suite NAME         one of ${SUITES.join(', ')} (default engine)
  --json               end with one JSON line (fields per SPEC §9)
  --trials N           trials (default 50)
  --voice ID           the real voice to use (default: the one installed)
  --tsx                run the engine from the sources under tsx instead of compiled
  --normal-priority    event loops at normal priority, as with REALTIME_PRIORITY=0`;

const { values } = parseCommandLine(
  {
    options: {
      suite: { type: 'string', default: 'engine' },
      json: { type: 'boolean', default: false },
      trials: { type: 'string', default: '50' },
      voice: { type: 'string' },
      tsx: { type: 'boolean', default: false },
      'normal-priority': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  },
  USAGE,
);

const trials = Number(values.trials);
if (!Number.isInteger(trials) || trials < 1) usageError(USAGE, `--trials must be a positive integer, got "${values.trials}"`);
// Each suite is imported only when run: the memory a suite reports (rss_mb) is then its own,
// not that of every other suite's modules (the browser suites alone load Chromium's driver and
// LiveKit's native client).
const suites: Record<(typeof SUITES)[number], () => Promise<Record<string, unknown>>> = {
  engine: async () => (await import('./suites/engine.js')).engineSuite({ trials, voice: values.voice, tsx: values.tsx }),
  resampler: async () => (await import('./suites/resampler.js')).resamplerSuite({ trials }),
  'ort-options': async () => (await import('./suites/ort-options.js')).ortOptionsSuite({ trials, voice: values.voice }),
  worker: async () => (await import('./suites/worker.js')).workerSuite({ trials, voice: values.voice, tsx: values.tsx, realtime: !values['normal-priority'] }),
  vad: async () => (await import('./suites/vad.js')).vadSuite({ trials }),
  e2e: async () => (await import('./suites/e2e.js')).e2eSuite({ trials, voice: values.voice, realtime: !values['normal-priority'] }),
  'barge-in': async () => (await import('./suites/barge-in.js')).bargeInSuite({ trials, voice: values.voice, realtime: !values['normal-priority'] }),
  browser: async () => (await import('./suites/browser.js')).browserSuite({ trials, voice: values.voice, transport: 'websocket' }),
  webrtc: async () => (await import('./suites/browser.js')).browserSuite({ trials, voice: values.voice, transport: 'livekit' }),
};
const suite = SUITES.find((s) => s === values.suite) ?? usageError(USAGE, `unknown suite "${values.suite}"`);
const run = suites[suite];
const result = await run();
console.log(values.json ? JSON.stringify(result) : JSON.stringify(result, null, 2));
// LiveKit's native client (webrtc suite) keeps handles open after its rooms are closed.
process.exit(0);
