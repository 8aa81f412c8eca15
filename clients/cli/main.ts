/**
 * `npm run cli -- --host ws://localhost:8080`: the WebSocket CLI client of SPEC §5.
 * Interactive (a TTY): type a line to have it spoken, /pause /resume /stop /voice <id> /quit.
 * Non-interactive: `--text "..."` (repeatable) or a piped stdin, taken as a script (script.ts);
 * exits 0 once every reply is finished.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import type { ServerMessage } from '../../transports/websocket/protocol.js';
import { parseCliArgs, USAGE, UsageError, validateUrl, type CliOptions } from './args.js';
import { Connection } from './connection.js';
import { MicFileStreamer, startArecord } from './mic.js';
import { Script } from './script.js';
import { Player } from './playback.js';
import { FRAME_MS, SessionTracker } from './session.js';
import { fmtSeconds, Ui } from './ui.js';
import { readMicWav, WavFormatError, writeWavFile } from './wav.js';

function fatal(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

let opts: CliOptions;
try {
  opts = parseCliArgs(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) fatal(`${err.message}\n${USAGE}`);
  throw err;
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const urlProblem = validateUrl(opts.host);
if (urlProblem) fatal(urlProblem);

let micPcm: Buffer | undefined;
if (opts.micFile) {
  try {
    micPcm = readMicWav(opts.micFile);
  } catch (err) {
    if (err instanceof WavFormatError) fatal(err.message);
    throw err;
  }
}

const interactive = opts.texts.length === 0 && process.stdin.isTTY === true;
const readStdinLines = opts.texts.length === 0 && !interactive;
const ui = new Ui();
const player = new Player(opts.play, (line) => ui.line(line), opts.out !== undefined || opts.outDir !== undefined);
const allAudio: Buffer[] = [];
let exiting = false;
let arecord: ChildProcess | undefined;

const tracker = new SessionTracker({
  firstAudio(u, latency) {
    ui.line(`[utt ${u.index}] first audio after ${latency === undefined ? '?' : `${Math.round(latency)} ms`}${u.text ? ` ("${clip(u.text)}")` : ''}`);
    if (mic && !mic.hasStarted) {
      ui.line(`[mic] streaming ${opts.micFile} (${fmtSeconds(((micPcm as Buffer).length / 32_000) * 1000)})`);
      mic.start();
    }
  },
  audio(_u, pcm) {
    allAudio.push(pcm);
    player.write(pcm);
  },
  done(u) {
    ui.line(`[utt ${u.index}] done: ${fmtSeconds(u.frames * FRAME_MS)} of audio`);
    if (opts.outDir) {
      const path = join(opts.outDir, `utt-${u.index}.wav`);
      writeWavFile(path, u.chunks);
      ui.line(`[utt ${u.index}] wrote ${path}`);
    }
    afterReply();
  },
  stopped(u, dropped) {
    player.flush();
    const what = u ? `[utt ${u.index}] stopped after ${fmtSeconds(u.frames * FRAME_MS)} of audio` : '[stopped]';
    ui.line(`${what}${dropped ? `; ${dropped} queued ${dropped === 1 ? 'text' : 'texts'} dropped by the server` : ''}`);
    afterReply();
  },
  state(state) {
    ui.line(`[state] ${state}`);
    if (state === 'PAUSED' || state === 'BARGED_IN') player.flush();
    // After the tracker has settled what this LISTENING ended (it does so once this returns).
    if (state === 'LISTENING') queueMicrotask(afterReply);
  },
});

const mic = micPcm
  ? new MicFileStreamer(
      micPcm,
      (frame) => void conn.sendBinary(frame),
      () => ui.line('[mic] file finished'),
    )
  : undefined;

const conn = new Connection(opts.host, opts.maxRetries, {
  onOpen() {
    ui.line(`[connection] connected to ${opts.host}`);
    // Non-interactive: the script (re)sends whatever has not been said yet, in its voice.
    if (script) script.connected();
    else if (opts.voice) conn.send({ type: 'session_start', voice: opts.voice });
  },
  onMessage: handleMessage,
  onBinaryAudio: (pcm) => tracker.audio(pcm),
  onDrop() {
    player.flush();
    const lost = tracker.reset();
    if (interactive && lost.length) ui.line(`[connection] ${lost.length} unfinished ${lost.length === 1 ? 'reply' : 'replies'} lost; type again after reconnecting`);
  },
  onGiveUp() {
    void shutdown(1);
  },
  log: (line) => ui.error(line),
});

/** The non-interactive run: `--text` values, or the lines of a piped stdin. */
const script = interactive
  ? undefined
  : new Script(
      {
        send(m) {
          const ok = conn.send(m);
          if (ok && m.type === 'session_start' && m.voice) ui.line(`[voice] asked for ${m.voice}`);
          return ok;
        },
        finished: () => tracker.finished,
        settled: () => tracker.idle && tracker.state === 'LISTENING',
        sent: (text) => tracker.sent(text),
      },
      opts.voice,
    );
for (const text of opts.texts) script?.say(text);
if (opts.texts.length > 0) script?.end();

function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

let sessionId: string | undefined;

function handleMessage(m: ServerMessage): void {
  switch (m.type) {
    case 'session_start':
      // The server answers a voice switch with the same session's id: news only when it changes.
      if (m.session_id !== sessionId) ui.line(`[session] ${m.session_id}`);
      sessionId = m.session_id;
      return;
    case 'audio':
      tracker.audio(Buffer.from(m.pcm, 'base64'));
      return;
    case 'error':
      ui.error(`[server error] ${m.code}: ${m.message}`);
      return;
    case 'session_end':
      ui.line(`[session] ended: ${m.reason}`);
      return;
    case 'vad':
      return;
    case 'voices':
      ui.line(
        m.voices.length === 0
          ? '[voice] no voices offered by the workers'
          : `[voice] ${m.voices.map((v) => `${v.id === m.current ? '*' : ' '}${v.id} (${v.language}${v.loaded ? ', loaded' : ''})`).join('\n        ')}\n        /voice <id> switches`,
      );
      script?.voicesListed();
      afterReply();
      return;
    default:
      tracker.message(m);
  }
}

function sendText(text: string): void {
  if (conn.send({ type: 'text', text, is_final: true })) tracker.sent(text);
  else ui.line('[not connected] the text was not sent; wait for the connection');
}

/** A reply finished (or a voices list came): the script goes on, and may be complete. */
function afterReply(): void {
  if (!script) return;
  script.pump();
  if (script.complete && tracker.idle) void shutdown(0);
}

/** One line of piped input (non-interactive), taken in order with the texts around it. */
function handleScriptLine(raw: string, rl: Interface): void {
  const line = raw.trim();
  if (!line || !script?.reading) return;
  const taken = script.add(line);
  if (taken.kind === 'ignored') ui.line(`[?] ${taken.reason}`);
  if (taken.kind === 'quit') rl.close();
}

function handleLine(raw: string, rl: Interface): void {
  const line = raw.trim();
  if (!line) return;
  if (line.startsWith('/')) {
    const [cmd, ...rest] = line.split(/\s+/);
    switch (cmd) {
      case '/pause':
      case '/resume':
      case '/stop':
        if (!conn.send({ type: 'control', command: cmd.slice(1).toUpperCase() })) ui.line('[not connected]');
        return;
      case '/voice': {
        const id = rest.join(' ');
        if (!id) {
          if (!conn.send({ type: 'voices' })) ui.line('[not connected]');
        } else if (conn.send({ type: 'session_start', voice: id })) ui.line(`[voice] asked for ${id}`);
        else ui.line('[not connected]');
        return;
      }
      case '/quit':
      case '/exit':
        void shutdown(0);
        return;
      default:
        ui.line(`[?] unknown command ${cmd}; try /pause /resume /stop /voice <id> /quit`);
        return;
    }
  }
  sendText(line);
  rl.prompt();
}

async function shutdown(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  mic?.stop();
  arecord?.kill('SIGTERM');
  player.stop();
  await conn.close();
  if (opts.out) {
    try {
      writeWavFile(opts.out, allAudio);
      ui.line(`[out] wrote ${opts.out} (${fmtSeconds((allAudio.length * FRAME_MS))} of audio)`);
    } catch (err) {
      process.stderr.write(`could not write ${opts.out}: ${(err as Error).message}\n`);
      code = code || 1;
    }
  }
  process.exit(code);
}

process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

if (interactive) {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '> ' });
  ui.attach(rl);
  rl.on('line', (l) => handleLine(l, rl));
  rl.on('SIGINT', () => void shutdown(0));
  rl.on('close', () => void shutdown(0));
  ui.line(`Type a line to hear it; /pause /resume /stop /voice <id> /quit. Ctrl+C quits.`);
} else if (readStdinLines) {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (l) => handleScriptLine(l, rl));
  rl.on('close', () => {
    script?.end();
    afterReply();
  });
}
// Live capture starts at once; frames are dropped while the socket is down.
if (opts.mic) arecord = startArecord((frame) => void conn.sendBinary(frame), (line) => ui.line(line));
conn.start();
