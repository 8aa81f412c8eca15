/**
 * Realtime scheduling for a service's event loop, the thread that answers PAUSE.
 *
 * On a 2-core machine both cores are busy synthesizing most of the time. Linux's fair scheduler
 * (EEVDF, 250 Hz tick here) then regularly lets an inference thread, niced or even SCHED_IDLE,
 * run until the next tick while the event loop waits: traced with `perf sched`, the slow control
 * acks were the worker's or its client's event loop runnable for 4-5 ms behind onnxruntime's
 * threads. Under SCHED_FIFO the loop preempts them the moment it wakes (control ack p95 7-9 ms ->
 * 2.7-2.8 ms, worker and client both realtime; the worker alone did not help). The loop uses a few
 * percent of a core, and the kernel's RT throttling keeps 5% for everything else regardless.
 *
 * On by default (realtime_priority: 10). Each realtime wakeup preempts an inference thread
 * mid-operation; a spinning partner thread would then busy-wait at the barrier on the other core,
 * which tripled late frames with 6 sessions, so the worker turns onnxruntime's spinning off when
 * its loop got realtime priority (workers/tts/scheduling.ts).
 *
 * SCHED_RESET_ON_FORK: threads started later (the inference thread, onnxruntime's pool, libuv's)
 * start as ordinary threads instead of inheriting realtime priority.
 */
import { readFileSync } from 'node:fs';
import koffi from 'koffi';
import { DEFAULT_REALTIME_PRIORITY } from '../configs/fields.js';

const SCHED_FIFO = 1;
const SCHED_RESET_ON_FORK = 0x40000000;
const EPERM = 1;

// One default for the configs' schema and for the benches and tests that ask as the configs do.
export { DEFAULT_REALTIME_PRIORITY };

export type RealtimeResult =
  | { granted: true; priority: number }
  | { granted: false; reason: string; hint?: string };

// struct sched_param is one int: passed as an Int32Array of one element.
type SetScheduler = (pid: number, policy: number, param: Int32Array) => number;

let setScheduler: SetScheduler | undefined;
let result: RealtimeResult | undefined;

function bind(): SetScheduler {
  if (setScheduler) return setScheduler;
  const libc = koffi.load('libc.so.6');
  setScheduler = libc.func('int sched_setscheduler(int pid, int policy, const int *param)') as SetScheduler;
  return setScheduler;
}

/**
 * Puts the calling thread under SCHED_FIFO at `priority` (1-99; 0 asks for nothing). Never
 * throws: without permission (not root, no CAP_SYS_NICE, `ulimit -r` below `priority`) or off
 * Linux/glibc the thread stays as it was and the result says why. The first call's result
 * stands for the process (one event loop per process calls this).
 */
export function requestRealtimePriority(priority: number): RealtimeResult {
  if (result) return result;
  if (priority <= 0) return (result = { granted: false, reason: 'disabled (realtime_priority: 0)' });
  if (process.platform !== 'linux') return (result = { granted: false, reason: `not available on ${process.platform}` });
  let rc: number;
  try {
    rc = bind()(0, SCHED_FIFO | SCHED_RESET_ON_FORK, Int32Array.of(priority));
  } catch (err) {
    return (result = { granted: false, reason: `sched_setscheduler unavailable: ${(err as Error).message}` });
  }
  if (rc === 0) return (result = { granted: true, priority });
  const errno = koffi.errno();
  return (result =
    errno === EPERM
      ? {
          granted: false,
          reason: 'not permitted',
          hint: `allow it with \`ulimit -r ${priority}\` (or a limits.conf rtprio entry), CAP_SYS_NICE, or compose's \`ulimits: { rtprio: ${priority} }\``,
        }
      : { granted: false, reason: `sched_setscheduler failed (errno ${errno})` });
}

/** One log line for the result, for a service's startup. */
export function describeRealtime(r: RealtimeResult): string {
  if (r.granted) return `Event loop runs at realtime priority (SCHED_FIFO ${r.priority})`;
  if (r.reason.startsWith('disabled')) return `Event loop runs at normal priority (realtime_priority: 0; REALTIME_PRIORITY=${DEFAULT_REALTIME_PRIORITY} asks for SCHED_FIFO)`;
  return `Event loop runs at normal priority: realtime ${r.reason}${r.hint ? `; ${r.hint}` : ''}. Control latency may then reach 5-15 ms while both cores synthesize`;
}

type InfoLogger = { info(fields: object, message: string): void };

/** The startup log line for the result; `fields` adds what the service chose because of it. */
export function logRealtime(r: RealtimeResult, logger: InfoLogger, fields: object = {}): void {
  logger.info({ realtime: r.granted, ...fields }, describeRealtime(r));
}

/** What a service's entry point does: asks for `priority`, says in one log line what it got. */
export function applyRealtimePriority(priority: number, logger: InfoLogger): RealtimeResult {
  const r = requestRealtimePriority(priority);
  logRealtime(r, logger);
  return r;
}

const POLICIES = ['other', 'fifo', 'rr', 'batch', 'iso', 'idle', 'deadline'] as const;

/** A thread's scheduling policy and nice value as Linux reports them (`/proc/<pid>/task/<tid>/stat`). */
export function threadScheduling(pid: number, tid = pid): { policy: string; nice: number } {
  // Fields after the parenthesised command name: state is field 3, nice 19, policy 41.
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const policy = Number(fields[38]);
  return { policy: POLICIES[policy] ?? String(policy), nice: Number(fields[16]) };
}
