/**
 * Transition coverage of the session machine by the generated path tests:
 *   npm run paths -- [--json] [--out FILE]
 * Lists the machine's transitions (computed from the machine), which of them the generated
 * paths take, and with --json prints {"transitions": N, "covered": K, "paths": P} as the last
 * stdout line. --out writes the generated paths (plain JSON, replayable end to end) to FILE.
 * Exits 1 when some transition is not covered.
 */
import { writeFileSync } from 'node:fs';
import { coverageDetail, generatePaths } from '../machines/paths.js';
import { sessionMachine } from '../machines/session-machine.js';
import { formatTransitionTable, listTransitions } from '../machines/transitions.js';
import { parseCommandLine } from './command-line.js';

const USAGE = `usage: npm run paths -- [--json] [--out FILE]
  --json       end with one JSON line: {"transitions": N, "covered": K, "paths": P}
  --out FILE   write the generated paths (JSON, replayable end to end) to FILE`;

const { values } = parseCommandLine(
  {
    options: {
      json: { type: 'boolean', default: false },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  },
  USAGE,
);

const paths = generatePaths();
const detail = coverageDetail(paths);
const hits = listTransitions(sessionMachine).map((t) => ({ ...t, hits: detail.hits[t.id] ?? 0 }));

if (values.out) {
  writeFileSync(values.out, `${JSON.stringify(paths, null, 2)}\n`);
}

if (values.json) {
  for (const id of detail.uncovered) console.error(`uncovered: ${id}`);
  console.log(JSON.stringify({ transitions: detail.transitions, covered: detail.covered, paths: detail.paths }));
} else {
  console.log(formatTransitionTable(listTransitions(sessionMachine)));
  console.log('');
  for (const t of hits) console.log(`${String(t.hits).padStart(5)}  ${t.id}`);
  console.log('');
  console.log(
    `${detail.covered}/${detail.transitions} transitions covered by ${detail.paths} paths` +
      (values.out ? ` (written to ${values.out})` : ''),
  );
  for (const id of detail.uncovered) console.log(`uncovered: ${id}`);
}
if (detail.uncovered.length > 0) process.exitCode = 1;
