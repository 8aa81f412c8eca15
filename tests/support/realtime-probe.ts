/**
 * Child process for tests/integration/realtime-priority.test.ts: asks for realtime priority as
 * a service's entry point does, then reports how the main thread and a thread started afterwards
 * are scheduled. argv[2]: the priority.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { describeRealtime, requestRealtimePriority, threadScheduling } from '../../platform/realtime-priority.js';

const first = requestRealtimePriority(Number(process.argv[2]));
const again = requestRealtimePriority(Number(process.argv[2]));
// The thread says which it is (its kernel thread id); this thread reads its scheduling while it lives.
const worker = new Worker("require('node:worker_threads').parentPort.postMessage(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop())", { eval: true });
const [tid] = (await once(worker, 'message')) as [string];
const thread = threadScheduling(process.pid, Number(tid));
await worker.terminate();
console.log(JSON.stringify({ first, same: first === again, line: describeRealtime(first), main: threadScheduling(process.pid), thread }));
