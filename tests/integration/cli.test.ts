/**
 * The WebSocket CLI client (clients/cli) as a real child process against a real worker +
 * orchestrator in this process. Synchronisation is by waiting for output patterns with
 * deadlines, never by sleeping.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningOrchestrator } from '../../orchestrator/server.js';
import { encodeWav } from '../../workers/tts/engine/wav.js';
import { voicepacksDir } from '../../workers/tts/voices/voicepack.js';
import { requireRealVoice, startTestOrchestrator } from '../support/orchestrator-stack.js';
import { parseCliArgs, validateUrl } from '../../clients/cli/args.js';
import { readMicWav, WavFormatError } from '../../clients/cli/wav.js';
import { noAudioMessage } from '../../clients/cli/playback.js';
import { concat, msToSamples, readWavS16, speechKit, type SpeechKit } from '../fixtures/vad-signals.js';
import { startTestWorker, type WorkerHarness } from '../support/worker-harness.js';
import { TEST_VOICE_ID, writeTestVoice } from '../../workers/tts/voices/test-voice.js';

const VOICE = 'en_US-joe-medium';
const LONG_TEXT =
  'The museum opens at nine and the guided tour starts an hour later. After the storm passed, the children ran outside to splash in the puddles.';
const ROOT = join(import.meta.dirname, '..', '..');
const CLI = ['--import', 'tsx', 'clients/cli/main.ts'];

/** A spawned CLI whose combined output can be awaited by pattern. */
class Cli {
  out = '';
  readonly exited: Promise<number | null>;
  private waiters: { re: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }[] = [];
  constructor(readonly proc: ChildProcess) {
    const onData = (d: Buffer) => {
      // Strip terminal control sequences (prompt redraws through the pty).
      // eslint-disable-next-line no-control-regex
      this.out += d.toString().replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');
      this.waiters = this.waiters.filter((w) => {
        const m = this.out.slice(w.from).match(w.re);
        if (m) w.resolve(m);
        return !m;
      });
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
  }
  static start(args: string[], opts: { stdin?: 'pipe' | 'ignore'; env?: NodeJS.ProcessEnv } = {}): Cli {
    return new Cli(spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: [opts.stdin ?? 'ignore', 'pipe', 'pipe'], ...(opts.env && { env: opts.env }) }));
  }
  /** The CLI inside a pseudo-terminal (util-linux `script`), so it runs its interactive prompt. */
  static startTty(args: string[]): Cli {
    const cmd = [process.execPath, ...CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    return new Cli(spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] }));
  }
  /** Waits for `re` in the output after character `from` (default: anywhere). */
  waitFor(re: RegExp, what: string, timeoutMs = 30_000, from = 0): Promise<RegExpMatchArray> {
    const m = this.out.slice(from).match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output:\n${this.out}`)), timeoutMs);
      this.waiters.push({ re, from, resolve: (x) => (clearTimeout(timer), resolve(x)) });
    });
  }
  async exitCode(timeoutMs = 30_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`CLI did not exit; output:\n${this.out}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
  type(line: string): void {
    this.proc.stdin?.write(`${line}\r`);
  }
  kill(): void {
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

function wavInfo(path: string): { rate: number; channels: number; seconds: number; peak: number } {
  const buf = readFileSync(path);
  expect(buf.toString('ascii', 0, 4)).toBe('RIFF');
  expect(buf.toString('ascii', 8, 12)).toBe('WAVE');
  const rate = buf.readUInt32LE(24);
  const channels = buf.readUInt16LE(22);
  const samples = readWavS16(path);
  let peak = 0;
  for (const s of samples) peak = Math.max(peak, Math.abs(s));
  return { rate, channels, seconds: samples.length / rate, peak };
}

describe('CLI client unit checks', () => {
  it('parses options and rejects bad URLs and bad mic files', () => {
    const o = parseCliArgs(['--host', 'ws://x:1', '--text', 'a', '--text', 'b', '--max-retries', '3', '--no-play']);
    expect(o).toMatchObject({ host: 'ws://x:1', texts: ['a', 'b'], maxRetries: 3, play: false });
    expect(() => parseCliArgs(['--max-retries', '-1'])).toThrow(/max-retries/);
    expect(parseCliArgs([]).host).toBe('ws://localhost:8080');
    expect(parseCliArgs(['--host', 'localhost:8080']).host).toBe('ws://localhost:8080');
    expect(parseCliArgs(['--host', '10.0.0.2:9000']).host).toBe('ws://10.0.0.2:9000');
    expect(parseCliArgs(['--host', 'wss://voice.example/ws']).host).toBe('wss://voice.example/ws');
    expect(validateUrl(parseCliArgs(['--host', 'http://localhost:8081']).host)).toMatch(/scheme must be ws:\/\/ or wss:\/\//);
    expect(validateUrl('http://localhost:8080')).toMatch(/ws:\/\//);
    expect(validateUrl('not a url')).toMatch(/invalid URL/);
    expect(validateUrl('ws://localhost:8080')).toBeUndefined();
    const dir = mkdtempSync(join(tmpdir(), 'cli-unit-'));
    try {
      const p = join(dir, 'x.wav');
      writeFileSync(p, encodeWav(new Int16Array(100), 22_050));
      expect(() => readMicWav(p)).toThrow(WavFormatError);
      expect(() => readMicWav(p)).toThrow(/22050 Hz/);
      writeFileSync(p, encodeWav(new Int16Array(100), 16_000));
      expect(readMicWav(p).length).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CLI client against a real worker + orchestrator', () => {
  let worker: WorkerHarness;
  let orch: RunningOrchestrator;
  let speech: SpeechKit;
  let url: string;
  let dir: string;
  const children: Cli[] = [];
  const track = (c: Cli): Cli => (children.push(c), c);

  beforeAll(async () => {
    requireRealVoice(VOICE);
    dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
    // The real voice (linked) and the test voice, so a script can switch between them.
    const voices = join(dir, 'voices');
    const joe = join(voices, 'piper', VOICE);
    mkdirSync(joe, { recursive: true });
    for (const f of readdirSync(join(voicepacksDir(), 'piper', VOICE))) symlinkSync(join(voicepacksDir(), 'piper', VOICE, f), join(joe, f));
    writeTestVoice(voices);
    worker = await startTestWorker({ voicepacksDir: voices, defaultModel: VOICE });
    orch = await startTestOrchestrator([`grpc://${worker.target}`], { bargeInPolicy: 'stop' });
    url = `ws://127.0.0.1:${orch.ws.port}`;
    speech = speechKit();
  }, 120_000);

  afterAll(async () => {
    for (const c of children) c.kill();
    await orch?.shutdown();
    await worker?.stop();
    speech?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('--text --out: exits 0 and writes a valid, non-silent 48 kHz WAV', async () => {
    const out = join(dir, 'hello.wav');
    const cli = track(Cli.start(['--host', url, '--no-play', '--text', 'Hello there.', '--out', out]));
    expect(await cli.exitCode()).toBe(0);
    expect(cli.out).toMatch(/\[utt 1\] first audio after \d+ ms/);
    expect(cli.out).toMatch(/\[utt 1\] done: \d+\.\d\d s of audio/);
    const info = wavInfo(out);
    expect(info).toMatchObject({ rate: 48_000, channels: 1 });
    expect(info.seconds).toBeGreaterThan(0.4);
    expect(info.seconds).toBeLessThan(4);
    expect(info.peak).toBeGreaterThan(1000);
  });

  it('playback with no audio player or device: says so once, keeps going, --out still written', async () => {
    const out = join(dir, 'no-device.wav');
    // A PATH without aplay, paplay or play: what a machine without audio looks like to the CLI.
    const emptyPath = mkdtempSync(join(dir, 'no-player-'));
    const cli = track(Cli.start(['--host', url, '--text', 'Hello there.', '--text', 'And once more.', '--out', out], { env: { ...process.env, PATH: emptyPath } }));
    expect(await cli.exitCode(60_000)).toBe(0);
    expect(cli.out.split(noAudioMessage(true)).length - 1).toBe(1);
    expect(cli.out).toMatch(/\[utt 2\] done/);
    expect(wavInfo(out).seconds).toBeGreaterThan(1);
  });

  it('stdin lines + --out-dir: one WAV per utterance', async () => {
    const outDir = join(dir, 'utts');
    const cli = track(Cli.start(['--host', url, '--no-play', '--out-dir', outDir], { stdin: 'pipe' }));
    cli.proc.stdin?.end('Good morning.\nSee you later.\n');
    expect(await cli.exitCode(60_000)).toBe(0);
    for (const name of ['utt-1.wav', 'utt-2.wav']) {
      const info = wavInfo(join(outDir, name));
      expect(info.rate).toBe(48_000);
      expect(info.seconds).toBeGreaterThan(0.3);
      expect(info.peak).toBeGreaterThan(1000);
    }
    expect(cli.out).toMatch(/\[utt 2\] done/);
  });

  it('piped script: /voice switches once the earlier reply is done, /voice lists, /quit ends the input, /pause is ignored', async () => {
    const cli = track(Cli.start(['--host', url, '--no-play'], { stdin: 'pipe' }));
    cli.proc.stdin?.end(['Good morning.', '/pause', `/voice ${TEST_VOICE_ID}`, 'See you later.', '/voice', '/quit', 'Never said.', ''].join('\n'));
    expect(await cli.exitCode(60_000)).toBe(0);
    const out = cli.out;
    expect(out).toContain('[?] /pause acts on the reply playing at the interactive prompt; ignored in piped input');
    const done1 = out.indexOf('[utt 1] done');
    const asked = out.indexOf(`[voice] asked for ${TEST_VOICE_ID}`);
    const first2 = out.indexOf('[utt 2] first audio');
    expect(done1, out).toBeGreaterThan(-1);
    expect(asked, out).toBeGreaterThan(done1);
    expect(first2, out).toBeGreaterThan(asked);
    // The list asked for after the switch marks the test voice as the session's.
    expect(out).toMatch(new RegExp(`\\*${TEST_VOICE_ID} \\(`));
    expect(out).toMatch(/\[utt 2\] done/);
    expect(out, 'nothing after /quit is said').not.toMatch(/\[utt 3\]/);
    // The server acknowledges the switch with the session's id: one session, announced once.
    expect(out.match(/^\[session\] [0-9a-f-]{36}$/gm), out).toHaveLength(1);
  });

  it('refused connection: says so, retries a bounded number of times, exits non-zero', async () => {
    const cli = track(Cli.start(['--host', 'ws://127.0.0.1:1', '--no-play', '--text', 'Hi.', '--max-retries', '2']));
    const code = await cli.exitCode();
    expect(code).not.toBe(0);
    expect(cli.out).toMatch(/is the orchestrator running\? try npm start/);
    expect(cli.out).toMatch(/reconnecting in 0\.5 s \(attempt 1 of 2\)/);
    expect(cli.out).toMatch(/reconnecting in 1\.0 s \(attempt 2 of 2\)/);
    expect(cli.out).toMatch(/giving up after 2 retries/);
  });

  it('orchestrator restart: the CLI says the connection was lost, reconnects with backoff, and speaks again', async () => {
    // A second orchestrator this test may stop and start again on the same port.
    let own = await startTestOrchestrator([`grpc://${worker.target}`]);
    const port = own.ws.port;
    try {
      const cli = track(Cli.startTty(['--host', `ws://127.0.0.1:${port}`, '--no-play']));
      await cli.waitFor(/\[state\] LISTENING/, 'LISTENING');
      let mark = cli.out.length;
      await own.shutdown();
      await cli.waitFor(/\[connection\] lost/, 'connection lost', 20_000, mark);
      await cli.waitFor(/reconnecting in \d+\.\d s/, 'backoff announced', 20_000, mark);
      own = await startTestOrchestrator([`grpc://${worker.target}`], { wsPort: port });
      await cli.waitFor(/\[connection\] connected to/, 'reconnected', 30_000, mark);
      mark = cli.out.length;
      cli.type('Back again.');
      await cli.waitFor(/\[utt \d\] done: /, 'speaks after reconnecting', 30_000, mark);
      cli.type('/quit');
      expect(await cli.exitCode()).toBe(0);
    } finally {
      await own.shutdown();
    }
  });

  it('rejects an invalid URL with one line', async () => {
    // The HTTP address npm start prints beside the WebSocket one: an easy mix-up.
    const cli = track(Cli.start(['--host', 'http://localhost:8081', '--text', 'Hi.']));
    expect(await cli.exitCode()).toBe(2);
    expect(cli.out).toMatch(/invalid URL "http:\/\/localhost:8081": the scheme must be ws:\/\/ or wss:\/\//);
  });

  it('interactive in a pseudo-terminal: latency line, /pause /resume /stop, a line typed while speaking is queued, --out, /quit exits 0', async () => {
    const out = join(dir, 'interactive.wav');
    const cli = track(Cli.startTty(['--host', url, '--no-play', '--out', out]));
    await cli.waitFor(/\[state\] LISTENING/, 'LISTENING');
    cli.type(LONG_TEXT);
    await cli.waitFor(/\[utt 1\] first audio after \d+ ms/, 'latency line');
    let mark = cli.out.length;
    cli.type('/pause');
    await cli.waitFor(/\[state\] PAUSED/, 'PAUSED', 20_000, mark);
    mark = cli.out.length;
    cli.type('/resume');
    await cli.waitFor(/\[state\] SPEAKING/, 'SPEAKING after resume', 20_000, mark);
    mark = cli.out.length;
    cli.type('/stop');
    await cli.waitFor(/\[utt 1\] stopped after \d/, 'stop ends the reply', 20_000, mark);
    await cli.waitFor(/\[state\] LISTENING/, 'LISTENING after stop', 20_000, mark);
    cli.type('First short reply.');
    await cli.waitFor(/\[utt 2\] first audio after \d+ ms/, 'second reply speaking');
    cli.type('Second, queued behind it.'); // typed while utt 2 speaks
    await cli.waitFor(/\[utt 2\] done: /, 'utt 2 done');
    await cli.waitFor(/\[utt 3\] first audio after \d+ ms \("Second, queued/, 'the queued line is spoken next');
    await cli.waitFor(/\[utt 3\] done: /, 'utt 3 done');
    cli.type('/quit');
    expect(await cli.exitCode()).toBe(0);
    const wav = wavInfo(out);
    expect(wav.rate).toBe(48_000);
    expect(wav.seconds).toBeGreaterThan(1);
    expect(wav.peak).toBeGreaterThan(1000);
  });

  it('interactive: /voice lists the voices; Ctrl+C ends the session with session_end and exits 0', async () => {
    const cli = track(Cli.startTty(['--host', url, '--no-play']));
    await cli.waitFor(/\[state\] LISTENING/, 'LISTENING');
    cli.type('/voice');
    await cli.waitFor(new RegExp(`\\*${VOICE} \\(en_US, loaded\\)`), 'voice list with the current voice marked');
    cli.proc.stdin?.write('\x03'); // Ctrl+C through the pty
    await cli.waitFor(/\[session\] ended: client_ended/, 'the server confirms session_end');
    expect(await cli.exitCode()).toBe(0);
  });

  it('--mic-file: real speech streamed during a long reply barges in', async () => {
    const micPath = join(dir, 'speech.wav');
    writeFileSync(micPath, encodeWav(concat(speech.speak('Wait, stop, I have a question.'), msToSamples(800)), 16_000));
    const cli = track(Cli.start(['--host', url, '--no-play', '--text', LONG_TEXT, '--mic-file', micPath]));
    await cli.waitFor(/\[mic\] streaming/, 'mic streaming');
    await cli.waitFor(/\[state\] BARGED_IN/, 'BARGED_IN');
    await cli.waitFor(/\[utt 1\] stopped after/, 'stop policy ends the reply');
    expect(await cli.exitCode()).toBe(0);
  });
});
