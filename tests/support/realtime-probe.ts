/**
 * Child process for tests/integration/realtime-priority.test.ts: asks for realtime priority as
 * a service's entry point does, then reports how the main thread and a thread started afterwards
 * are scheduled. argv[2]: the priority.
 */
import { Worker } from 'node:worker_threads';
import { describeRealtime, requestRealtimePriority, threadScheduling } from '../../platform/realtime-priority.js';

const first = requestRealtimePriority(Number(process.argv[2]));
const again = requestRealtimePriority(Number(process.argv[2]));
const thread = await new Promise<{ policy: string; nice: number }>((resolve, reject) => {
  const w = new Worker(
    `const { parentPort, threadId } = require('node:worker_threads');
     const stat = require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8');
     const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
     parentPort.postMessage({ policy: Number(f[38]), nice: Number(f[16]) });`,
    { eval: true },
  );
  w.once('message', (m: { policy: number; nice: number }) => {
    void w.terminate();
    resolve({ policy: m.policy === 0 ? 'other' : String(m.policy), nice: m.nice });
  });
  w.once('error', reject);
});
console.log(JSON.stringify({ first, same: first === again, line: describeRealtime(first), main: threadScheduling(process.pid), thread }));
