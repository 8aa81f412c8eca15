/** Command-line options of the WebSocket CLI client (`npm run cli -- --help`). */
import { parseArgs } from 'node:util';

export interface CliOptions {
  host: string;
  texts: string[];
  out: string | undefined;
  outDir: string | undefined;
  micFile: string | undefined;
  mic: boolean;
  voice: string | undefined;
  /** Reconnect attempts after a failure; undefined = unlimited. */
  maxRetries: number | undefined;
  play: boolean;
  help: boolean;
}

export const USAGE = `Usage: npm run cli -- [options]
  --host URL          orchestrator WebSocket URL (default ws://localhost:8080; host:port means ws://host:port)
  --text "..."        say this and exit when done (repeatable); without it, a piped stdin is read line by line
  --out FILE.wav      write every reply's audio (48 kHz mono) to FILE.wav on exit
  --out-dir DIR       write one WAV per utterance (utt-1.wav, ...) when it is done
  --mic-file F.wav    stream a 16 kHz mono s16 WAV as microphone audio once the next reply starts playing
  --mic               live microphone (needs arecord)
  --voice ID          ask for this voice at session start
  --max-retries N     give up after N failed reconnects (default: unlimited)
  --no-play           do not play audio
  -h, --help          this text
Interactive commands: /pause /resume /stop /voice [id] /quit
Piped input is a script: text lines, /voice <id> (for the lines after it), /voice (list), /quit`;

export class UsageError extends Error {}

export function parseCliArgs(argv: string[]): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string', default: 'ws://localhost:8080' },
        text: { type: 'string', multiple: true },
        out: { type: 'string' },
        'out-dir': { type: 'string' },
        'mic-file': { type: 'string' },
        mic: { type: 'boolean', default: false },
        voice: { type: 'string' },
        'max-retries': { type: 'string' },
        'no-play': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let maxRetries: number | undefined;
  const rawRetries = values['max-retries'];
  if (rawRetries !== undefined) {
    maxRetries = Number(rawRetries);
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new UsageError(`--max-retries must be a whole number ≥ 0, got "${rawRetries}"`);
  }
  const texts = (values.text ?? []).map((t) => t.trim()).filter((t) => t.length > 0);
  if (values.mic && values['mic-file']) throw new UsageError('use either --mic or --mic-file, not both');
  return {
    // `localhost:8080` would parse as a URL of scheme "localhost:": a bare address means ws://.
    host: /^[a-z][a-z0-9+.-]*:\/\//i.test(values.host ?? '') ? (values.host as string) : `ws://${values.host}`,
    texts,
    out: values.out,
    outDir: values['out-dir'],
    micFile: values['mic-file'],
    mic: values.mic ?? false,
    voice: values.voice,
    maxRetries,
    play: !values['no-play'],
    help: values.help ?? false,
  };
}

/** Checks the URL up front so a typo gets one clear line instead of a reconnect loop. */
export function validateUrl(host: string): string | undefined {
  let url: URL;
  try {
    url = new URL(host);
  } catch {
    return `invalid URL "${host}": expected something like ws://localhost:8080`;
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    return `invalid URL "${host}": the scheme must be ws:// or wss://, not ${url.protocol}//`;
  }
  return undefined;
}
