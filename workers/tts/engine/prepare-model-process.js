// Child process that writes a voice's prepared model (upsampling as polyphase Conv). A separate
// process because decoding and re-encoding a 63 MB model holds ~140 MB for a moment, which
// would otherwise stay in the worker's peak RSS. Usage: node prepare-model-process.js SRC DST
// Prints {"rewritten": n}; writes DST (atomically) only when n > 0.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { rewriteUpsampling } from './polyphase-upsampling.js';

const [src, dst] = process.argv.slice(2);
if (!src || !dst) {
  process.stderr.write('usage: prepare-model-process.js SRC DST\n');
  process.exit(2);
}
const { rewritten, bytes } = rewriteUpsampling(readFileSync(src));
if (bytes) {
  const partial = `${dst}.partial-${process.pid}`;
  try {
    writeFileSync(partial, bytes);
    renameSync(partial, dst);
  } catch (err) {
    rmSync(partial, { force: true }); // a full disk must not leave half a model behind
    throw err;
  }
}
process.stdout.write(`${JSON.stringify({ rewritten })}\n`);
