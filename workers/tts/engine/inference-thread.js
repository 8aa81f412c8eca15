// Runs one ONNX session off the main thread. onnxruntime-node's `session.run` executes
// synchronously on the calling JS thread (its promise only defers the call), which would block
// Node's event loop for the whole inference — 200-300 ms with a medium voice — and with it every
// PAUSE, socket and timer. Plain JavaScript so it loads in any runtime (tsx, vitest, node).
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

const port = parentPort;
if (!port) throw new Error('inference-thread.js must run as a worker thread');

// On Linux a priority set with pid 0 applies to the calling thread only, and ORT's intra-op
// threads created below inherit it. Inference then yields the CPU to the main thread, which
// must answer PAUSE within milliseconds while both cores are busy synthesizing.
try {
  setPriority(0, workerData.nice ?? 5);
} catch {
  // not permitted (or not Linux): run at normal priority
}
const session = await ort.InferenceSession.create(workerData.model, workerData.options);
port.postMessage({ type: 'ready' });

port.on('message', async (msg) => {
  if (msg.type === 'release') {
    await session.release();
    port.postMessage({ type: 'released' });
    port.close();
    return;
  }
  if (msg.type !== 'run') return;
  try {
    const ids = msg.ids;
    const feeds = {
      input: new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), [1, ids.length]),
      input_lengths: new ort.Tensor('int64', BigInt64Array.from([BigInt(ids.length)]), [1]),
      scales: new ort.Tensor('float32', Float32Array.from(msg.scales), [3]),
    };
    if (msg.sid !== undefined) feeds.sid = new ort.Tensor('int64', BigInt64Array.from([BigInt(msg.sid)]), [1]);
    const t0 = performance.now();
    const results = await session.run(feeds);
    const ms = performance.now() - t0;
    const output = results.output ?? Object.values(results)[0];
    const audio = new Float32Array(output.data);
    port.postMessage({ type: 'result', id: msg.id, audio, ms }, [audio.buffer]);
  } catch (err) {
    port.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
  }
});
