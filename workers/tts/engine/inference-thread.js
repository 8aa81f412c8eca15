// Runs one ONNX session off the main thread. onnxruntime-node's `session.run` executes
// synchronously on the calling JS thread (its promise only defers the call), which would block
// Node's event loop for the whole inference — 200-300 ms with a medium voice — and with it every
// PAUSE, socket and timer. Plain JavaScript so it loads in any runtime (tsx, vitest, node).
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { StreamResampler } from './resampler.js';
import { leadingSilence } from './silence.js';

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
/**
 * The prepared model can cap its edge ids' durations where streamed chunks join. The name is
 * chunk-joins.js's `EDGE_FRAMES_INPUT`, not imported: that module loads onnx-proto, megabytes this
 * thread has no other use for.
 */
const EDGE_FRAMES_INPUT = 'edge_frames';
const capsEdges = session.inputNames.includes(EDGE_FRAMES_INPUT);
port.postMessage({ type: 'ready', capsEdges });
const NO_CAPS = [Infinity, Infinity, Infinity, Infinity];

const sampleRate = workerData.sampleRate;
/**
 * Resampler state of each stream between its chunks. Resampling runs here, not on the main
 * thread: ~10 ms of CPU per second of speech there held the event loop (and every PAUSE) in
 * 1-2 ms stretches right when a chunk's frames were going out.
 */
const resamplers = new Map();

/** The chunk's audio as the stream wants it: leading silence trimmed, at the output rate. */
function shape(audio, output) {
  const start = output.first && output.trimDb !== undefined ? leadingSilence(audio, sampleRate, output.trimDb) : 0;
  const trimmed = start > 0 ? audio.subarray(start) : audio;
  // A stream that was dropped while this chunk ran gets a throwaway resampler (nothing kept).
  const resampler = resamplers.get(output.stream) ?? new StreamResampler(sampleRate, output.rate);
  const body = resampler.push(trimmed);
  if (!output.last) return body;
  resamplers.delete(output.stream);
  const tail = resampler.finish();
  const all = new Float32Array(body.length + tail.length);
  all.set(body);
  all.set(tail, body.length);
  return all;
}

port.on('message', async (msg) => {
  if (msg.type === 'drop') {
    resamplers.delete(msg.stream);
    return;
  }
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
    if (capsEdges) feeds[EDGE_FRAMES_INPUT] = new ort.Tensor('float32', Float32Array.from(msg.edgeFrames ?? NO_CAPS), [4]);
    if (msg.output?.first) resamplers.set(msg.output.stream, new StreamResampler(sampleRate, msg.output.rate));
    const t0 = performance.now();
    const results = await session.run(feeds);
    const ms = performance.now() - t0;
    const output = results.output ?? Object.values(results)[0];
    // Shaped audio is new memory to hand over; the tensor's own buffer is read in place.
    const audio = msg.output ? shape(output.data, msg.output) : new Float32Array(output.data);
    port.postMessage({ type: 'result', id: msg.id, audio, ms, modelSamples: output.data.length }, [audio.buffer]);
  } catch (err) {
    port.postMessage({ type: 'error', id: msg.id, message: err instanceof Error ? err.message : String(err) });
  }
});
