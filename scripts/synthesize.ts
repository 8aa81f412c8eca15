/**
 * Text to a WAV file with the streaming engine:
 *   npm run synth -- "Hello there, how are you?" --out hello.wav [--voice ID] [--speaker N]
 * Prints the first-frame latency and the real-time factor.
 */
import { writeFileSync } from 'node:fs';
import { FRAME_SAMPLES, OUTPUT_SAMPLE_RATE } from '../workers/tts/engine/audio-frame.js';
import { PiperEngine, SYNTHESIS_LIMITS } from '../workers/tts/engine/engine.js';
import { encodeWav } from '../workers/tts/engine/wav.js';
import { parseCommandLine, usageError } from './command-line.js';
import { DEFAULT_VOICE_ID, listVoiceIds, loadVoicepack } from '../workers/tts/voices/voicepack.js';

const USAGE = `usage: npm run synth -- "text to speak" [options]
  --out FILE.wav       where to write (default out.wav; 48 kHz mono s16)
  --voice ID           a voice in voicepacks/ (default ${DEFAULT_VOICE_ID}, else the first installed)
  --speaker N|name     speaker of a multi-speaker voice
  --length-scale X     ${SYNTHESIS_LIMITS.lengthScale.join('-')}; above 1 speaks slower
  --lufs X             normalise loudness to X LUFS (${SYNTHESIS_LIMITS.loudnessTarget.join(' to ')})`;

const { values, positionals } = parseCommandLine(
  {
    allowPositionals: true,
    options: {
      out: { type: 'string', default: 'out.wav' },
      voice: { type: 'string' },
      speaker: { type: 'string' },
      'length-scale': { type: 'string' },
      lufs: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  },
  USAGE,
);

/** A numeric option within its range, or the usage with what is wrong. */
function numberOption(name: string, raw: string | undefined, [min, max]: readonly [number, number]): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || value < min || value > max) usageError(USAGE, `--${name} must be a number from ${min} to ${max} (got ${JSON.stringify(raw)})`);
  return value;
}

const text = positionals.join(' ').trim();
if (!text) usageError(USAGE);
const lengthScale = numberOption('length-scale', values['length-scale'], SYNTHESIS_LIMITS.lengthScale);
const loudnessTarget = numberOption('lufs', values.lufs, SYNTHESIS_LIMITS.loudnessTarget);
try {
  const voiceId = values.voice ?? (listVoiceIds().includes(DEFAULT_VOICE_ID) ? DEFAULT_VOICE_ID : listVoiceIds()[0] ?? DEFAULT_VOICE_ID);
  const engine = await PiperEngine.load(loadVoicepack(voiceId));
  const speaker = values.speaker === undefined ? undefined : /^\d+$/.test(values.speaker) ? Number(values.speaker) : values.speaker;
  const stream = engine.synthesize(text, {
    speaker,
    ...(lengthScale !== undefined && { lengthScale }),
    ...(loudnessTarget !== undefined && { loudnessTarget }),
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
