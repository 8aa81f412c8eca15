/**
 * Benchmarks: `npm run bench -- --suite NAME [--json] [--trials N] [--voice ID]`.
 * The last stdout line with --json is one JSON object (fields per SPEC §9).
 */
import { parseArgs } from 'node:util';
import { bargeInSuite } from './suites/barge-in.js';
import { browserSuite } from './suites/browser.js';
import { e2eSuite } from './suites/e2e.js';
import { engineSuite } from './suites/engine.js';
import { ortOptionsSuite } from './suites/ort-options.js';
import { resamplerSuite } from './suites/resampler.js';
import { vadSuite } from './suites/vad.js';
import { workerSuite } from './suites/worker.js';

const { values } = parseArgs({
  options: {
    suite: { type: 'string', default: 'engine' },
    json: { type: 'boolean', default: false },
    trials: { type: 'string', default: '50' },
    voice: { type: 'string' },
  },
});

const trials = Number.parseInt(values.trials, 10);
if (!Number.isInteger(trials) || trials < 1) throw new Error(`--trials must be a positive integer, got ${values.trials}`);
const suites: Record<string, () => Promise<Record<string, unknown>>> = {
  engine: () => engineSuite({ trials, voice: values.voice }),
  resampler: () => resamplerSuite({ trials }),
  'ort-options': () => ortOptionsSuite({ trials, voice: values.voice }),
  worker: () => workerSuite({ trials, voice: values.voice }),
  vad: () => vadSuite({ trials }),
  e2e: () => e2eSuite({ trials, voice: values.voice }),
  'barge-in': () => bargeInSuite({ trials, voice: values.voice }),
  browser: () => browserSuite({ trials, voice: values.voice, transport: 'websocket' }),
  webrtc: () => browserSuite({ trials, voice: values.voice, transport: 'livekit' }),
};
const run = suites[values.suite];
if (!run) {
  console.error(`unknown suite "${values.suite}"; available: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
const result = await run();
console.log(values.json ? JSON.stringify(result) : JSON.stringify(result, null, 2));
// LiveKit's native client (webrtc suite) keeps handles open after its rooms are closed.
process.exit(0);
