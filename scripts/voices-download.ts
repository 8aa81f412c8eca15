/**
 * npm run voices:download -- [voice-id] [--dir DIR] [--offline]
 *
 * Downloads a Piper voice into <DIR>/piper/<voice-id>/ (default voice DEFAULT_VOICE_ID, default
 * DIR voicepacksDir()), verifying size and md5 against the catalog. `PIPER_VOICES_URL` points it
 * at a mirror. `--offline` only writes metadata.yaml for a voice whose files were placed by hand.
 */
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { downloadVoice, registerLocalVoice, VoiceDownloadError, type DownloadProgress } from '../workers/tts/voices/download.js';
import { DEFAULT_VOICE_ID, voicepacksDir, type Voicepack } from '../workers/tts/voices/voicepack.js';
import { describePreparation } from '../workers/tts/engine/prepared-model.js';
import { parseCommandLine, usageError } from './command-line.js';

const USAGE = `usage: npm run voices:download -- [voice-id] [--dir DIR] [--offline]

  voice-id    Piper voice, <lang>_<REGION>-<name>-<quality> (default ${DEFAULT_VOICE_ID})
  --dir DIR   voices root; the voice goes to DIR/piper/<voice-id>/ (default ${voicepacksDir()})
  --offline   do not download: write metadata.yaml for .onnx/.onnx.json already placed in that directory

Environment: PIPER_VOICES_URL overrides the voices repository base URL.`;

function formatBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

interface ProgressView {
  update(p: DownloadProgress): void;
  stop(): void;
}

/** A cli-progress bar per file, for interactive terminals. */
function ttyProgress(): ProgressView {
  let bar: cliProgress.SingleBar | undefined;
  let current = -1;
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
  };
  return {
    update(p) {
      if (p.skipped) {
        stop();
        console.log(`${p.file}: already present (${formatBytes(p.total)}, size and md5 verified)`);
        current = p.fileIndex;
        return;
      }
      const payload = { file: p.file, done: formatBytes(p.bytes), size: formatBytes(p.total), rate: `${formatBytes(p.bytesPerSecond)}/s` };
      if (p.fileIndex !== current || !bar) {
        stop();
        current = p.fileIndex;
        bar = new cliProgress.SingleBar(
          {
            format: '{file} [{bar}] {percentage}% | {done} / {size} | {rate} | ETA {eta_formatted}',
            stream: process.stdout,
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(Math.max(p.total, 1), p.bytes, payload);
      } else {
        bar.update(p.bytes, payload);
      }
      if (p.bytes >= p.total) stop();
    },
    stop,
  };
}

/** Plain progress lines on stderr every few seconds, for logs and pipes. */
function plainProgress(intervalMs = 5000): ProgressView {
  let lastLine = 0;
  let current = -1;
  return {
    update(p) {
      if (p.skipped) {
        console.error(`${p.file}: already present (${formatBytes(p.total)}, size and md5 verified)`);
        return;
      }
      const now = Date.now();
      const first = p.fileIndex !== current;
      const done = p.bytes >= p.total;
      if (!first && !done && now - lastLine < intervalMs) return;
      current = p.fileIndex;
      lastLine = now;
      const pct = p.total > 0 ? Math.floor((p.bytes / p.total) * 100) : 100;
      console.error(
        `${p.file}: ${formatBytes(p.bytes)} / ${formatBytes(p.total)} (${pct}%) at ${formatBytes(p.bytesPerSecond)}/s${done ? ' — done' : ''}`,
      );
    },
    stop() {},
  };
}

function summary(voicepack: Voicepack, action: string): string {
  const m = voicepack.metadata;
  return `${action} ${voicepack.id} in ${voicepack.dir}/ (${m.language}, ${m.sample_rate} Hz)`;
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine(
    {
      allowPositionals: true,
      options: {
        dir: { type: 'string' },
        offline: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    },
    USAGE,
  );
  if (positionals.length > 1) usageError(USAGE, `Expected at most one voice id, got: ${positionals.join(' ')}`);
  const id = positionals[0] ?? DEFAULT_VOICE_ID;
  // `npm run` changes into the package directory; resolve --dir against where the user typed it.
  const root = values.dir !== undefined ? resolve(process.env.INIT_CWD ?? process.cwd(), values.dir) : voicepacksDir();

  if (values.offline) {
    const voicepack = await registerLocalVoice(id, { root });
    console.log(summary(voicepack, 'Registered'));
    console.log(await describePreparation(voicepack.modelPath));
    return 0;
  }

  const view = process.stdout.isTTY ? ttyProgress() : plainProgress();
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    const result = await downloadVoice(id, { root, onProgress: (p) => view.update(p), signal: controller.signal });
    view.stop();
    const fetched = result.files.filter((f) => f.status === 'downloaded');
    const action = fetched.length === 0 ? 'Already installed:' : `Downloaded ${fetched.map((f) => f.file).join(' and ')};`;
    console.log(summary(result.voicepack, fetched.length === 0 ? action : `${action} installed`));
    console.log(await describePreparation(result.voicepack.modelPath));
    return 0;
  } finally {
    view.stop();
    process.removeListener('SIGINT', onSigint);
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof VoiceDownloadError && err.kind === 'aborted') {
      console.error(err.message);
      process.exitCode = 130;
      return;
    }
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  },
);
