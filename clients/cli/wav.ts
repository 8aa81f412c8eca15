/** WAV in and out: writing 48 kHz replies, and reading + validating the 16 kHz --mic-file. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { encodeWav } from '../../workers/tts/engine/wav.js';

export const REPLY_RATE = 48_000;
export const MIC_RATE = 16_000;

/** Writes s16le PCM chunks as a mono WAV, creating the directory if needed. */
export function writeWavFile(path: string, chunks: readonly Buffer[], sampleRate = REPLY_RATE): void {
  const pcm = Buffer.concat(chunks);
  const samples = new Int16Array(pcm.length >> 1);
  for (let i = 0; i < samples.length; i += 1) samples[i] = pcm.readInt16LE(2 * i);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, encodeWav(samples, sampleRate));
}

export class WavFormatError extends Error {}

/** The raw s16le data of a 16 kHz mono 16-bit PCM WAV; anything else is rejected with a clear reason. */
export function readMicWav(path: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    throw new WavFormatError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new WavFormatError(`${path} is not a WAV file (no RIFF/WAVE header)`);
  }
  let fmt: { format: number; channels: number; rate: number; bits: number } | undefined;
  let pos = 12;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ' && size >= 16 && body + 16 <= buf.length) {
      fmt = {
        format: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        rate: buf.readUInt32LE(body + 4),
        bits: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new WavFormatError(`${path}: data chunk before fmt chunk`);
      const problems: string[] = [];
      // 0xFFFE is WAVE_FORMAT_EXTENSIBLE; accepted when the rest matches (its sub-format is almost always PCM).
      if (fmt.format !== 1 && fmt.format !== 0xfffe) problems.push(`encoding ${fmt.format} (need 1 = PCM)`);
      if (fmt.channels !== 1) problems.push(`${fmt.channels} channels (need mono)`);
      if (fmt.rate !== MIC_RATE) problems.push(`${fmt.rate} Hz (need ${MIC_RATE} Hz; resampling is not supported)`);
      if (fmt.bits !== 16) problems.push(`${fmt.bits}-bit samples (need 16-bit)`);
      if (problems.length) {
        throw new WavFormatError(`${path}: unsupported format: ${problems.join(', ')}. Convert with: sox IN.wav -r 16000 -c 1 -b 16 OUT.wav`);
      }
      const end = Math.min(buf.length, body + size);
      return buf.subarray(body, body + ((end - body) & ~1));
    }
    pos = body + size + (size % 2);
  }
  throw new WavFormatError(`${path}: no ${fmt ? 'data' : 'fmt'} chunk`);
}
