import type { RealtimeResult } from '../../platform/realtime-priority.js';
import type { InferenceTuning } from './engine/piper-model.js';

/**
 * onnxruntime settings that go with how the event loop is scheduled.
 *
 * A realtime event loop preempts an inference thread the moment it wakes. With spinning threads
 * (onnxruntime's default) the other inference thread then busy-waits at the next barrier for as
 * long as the loop runs, on the one core left. Measured with six sessions started 300 ms apart
 * through the orchestrator (four rounds each, three alternating reps): 184 pacer underruns with
 * a realtime loop and spinning, 55 with a realtime loop and sleeping threads, 56 with neither
 * (a host under steal). Spinning stays on under a normal loop, where it is faster (piper-model.ts).
 */
export function inferenceTuningFor(realtime: RealtimeResult): Partial<InferenceTuning> {
  return { spinning: !realtime.granted };
}
