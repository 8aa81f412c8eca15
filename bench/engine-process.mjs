// The engine suite's synthesis side, in a process of its own started like the worker service
// (bench/suites/engine.ts): its peak RSS is then the engine's, not the bench harness's.
// argv: <code dir> <module extension: .js compiled, .ts under tsx> [voice id]
// Messages in: { id, texts, options }; out: { type: 'ready' }, { id, timings: [{ wallMs, audioMs, firstMs }] }.
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, ext, voiceId] = process.argv.slice(2);
if (!dir || !ext || !process.send) throw new Error('bench/engine-process.mjs is started by the engine suite (IPC, code dir, extension)');
const load = (path) => import(pathToFileURL(join(dir, `${path}${ext}`)).href);
const { PiperEngine } = await load('workers/tts/engine/engine');
const { FRAME_MS } = await load('workers/tts/engine/audio-frame');
const { pickRealVoice } = await load('workers/tts/voices/pick');

const engine = await PiperEngine.load(pickRealVoice(voiceId || undefined));
await engine.warmup();

async function timed(text, options) {
  const t0 = performance.now();
  let first;
  let frames = 0;
  for await (const _frame of engine.synthesize(text, options)) {
    first ??= performance.now() - t0;
    frames += 1;
  }
  return { wallMs: performance.now() - t0, audioMs: frames * FRAME_MS, firstMs: first ?? Number.NaN };
}

process.on('message', async (msg) => {
  if (msg.type === 'exit') {
    await engine.release();
    process.disconnect();
    return;
  }
  const timings = [];
  for (const text of msg.texts) timings.push(await timed(text, msg.options));
  process.send({ id: msg.id, timings });
});
process.send({ type: 'ready' });
