/**
 * Phoneme-id parity against the Python reference `piper-tts`:
 *   npm run parity -- [--json] [--corpus FILE] [--voice ID]
 * The last stdout line with --json is {"sentences": N, "identical": K, "rate": K/N}.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runReference } from '../bench/reference/piper-reference.js';
import { phonemeIdsForText } from '../workers/tts/engine/text-to-ids.js';
import { pickRealVoice } from '../workers/tts/voices/pick.js';
import { parseCommandLine } from './command-line.js';

const USAGE = `usage: npm run parity -- [--json] [--corpus FILE] [--voice ID]
  --json          end with one JSON line: {"sentences": N, "identical": K, "rate": K/N}
  --corpus FILE   one sentence per line (default: the project's corpus, tests/fixtures/parity-corpus.txt)
  --voice ID      the voice whose phoneme map both sides use (default: the real voice installed)`;

const { values } = parseCommandLine(
  {
    options: {
      json: { type: 'boolean', default: false },
      corpus: { type: 'string', default: fileURLToPath(new URL('../tests/fixtures/parity-corpus.txt', import.meta.url)) },
      voice: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  },
  USAGE,
);

const lines = readFileSync(values.corpus, 'utf8')
  .split(/\r?\n/)
  .map((l) => l.trim())
  .filter((l) => l.length > 0);
const voice = pickRealVoice(values.voice);
const reference = await runReference<{ ids: number[][][] }>({ op: 'ids', model: voice.modelPath, lines });

let identical = 0;
const mismatches: { line: string; ours: number[][]; theirs: number[][] }[] = [];
lines.forEach((line, i) => {
  const ours = phonemeIdsForText(line, voice.config).sentences.map((s) => s.ids);
  const theirs = reference.ids[i] ?? [];
  if (JSON.stringify(ours) === JSON.stringify(theirs)) identical += 1;
  else mismatches.push({ line, ours, theirs });
});

const idToPhoneme = new Map<number, string>();
for (const [p, ids] of Object.entries(voice.config.phoneme_id_map)) if (ids.length === 1) idToPhoneme.set(ids[0] as number, p);
const show = (s: number[][]) => s.map((ids) => ids.filter((id) => id !== 0).map((id) => idToPhoneme.get(id) ?? `<${id}>`).join('')).join(' | ');
for (const m of mismatches) {
  console.error(`MISMATCH ${JSON.stringify(m.line)}\n  ours:   ${show(m.ours)}\n  piper:  ${show(m.theirs)}`);
}
const result = { sentences: lines.length, identical, rate: lines.length ? identical / lines.length : 0 };
if (values.json) console.log(JSON.stringify(result));
else console.log(`parity on ${voice.id}: ${identical}/${lines.length} identical (${(result.rate * 100).toFixed(1)}%)`);
