/**
 * Text to a WAV file with the streaming engine:
 *   npm run synth -- "Hello there, how are you?" --out hello.wav [--voice ID] [--speaker N]
 * Prints the first-frame latency and the real-time factor.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FRAME_SAMPLES, OUTPUT_SAMPLE_RATE } from '../workers/tts/engine/audio-frame.js';
import { PiperEngine } from '../workers/tts/engine/engine.js';
import { encodeWav } from '../workers/tts/engine/wav.js';
import { DEFAULT_VOICE_ID, listVoiceIds, loadVoicepack } from '../workers/tts/voices/voicepack.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: 'string', default: 'out.wav' },
    voice: { type: 'string' },
    speaker: { type: 'string' },
    'length-scale': { type: 'string' },
    lufs: { type: 'string' },
  },
});

const text = positionals.join(' ').trim();
if (!text) {
  console.error('usage: npm run synth -- "text to speak" [--out file.wav] [--voice ID] [--speaker N|name] [--lufs -18]');
  process.exit(2);
}
try {
  const voiceId = values.voice ?? (listVoiceIds().includes(DEFAULT_VOICE_ID) ? DEFAULT_VOICE_ID : listVoiceIds()[0] ?? DEFAULT_VOICE_ID);
  const engine = await PiperEngine.load(loadVoicepack(voiceId));
  const speaker = values.speaker === undefined ? undefined : /^\d+$/.test(values.speaker) ? Number(values.speaker) : values.speaker;
  const stream = engine.synthesize(text, {
    speaker,
    ...(values['length-scale'] && { lengthScale: Number(values['length-scale']) }),
    ...(values.lufs && { loudnessTarget: Number(values.lufs) }),
  });
  const frames: Int16Array[] = [];
  let validTotal = 0;
  for await (const frame of stream) {
    frames.push(frame.samples.subarray(0, frame.validSamples));
    validTotal += frame.validSamples;
  }
  const pcm = new Int16Array(validTotal);
  let offset = 0;
  for (const f of frames) {
    pcm.set(f, offset);
    offset += f.length;
  }
  writeFileSync(values.out, encodeWav(pcm, OUTPUT_SAMPLE_RATE));
  const first = (stream.stats.firstFrameAt ?? 0) - stream.stats.startedAt;
  console.log(
    `${values.out}: ${(validTotal / OUTPUT_SAMPLE_RATE).toFixed(2)} s from voice ${voiceId}, ${frames.length} frames of ${FRAME_SAMPLES} samples; ` +
      `first frame after ${first.toFixed(0)} ms, model RTF ${(stream.stats.computeMs / stream.stats.audioMs).toFixed(3)}`,
  );
  await engine.release();
} catch (err) {
  console.error((err as Error).message);
  process.exit(1);
}
