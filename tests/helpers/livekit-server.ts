/**
 * A real LiveKit server (the Go binary) on loopback for tests: free ports for signalling, ICE/TCP
 * and the single UDP media port, a random key pair (not the development one), media candidates
 * on the loopback interface only. Ready once it logs that it started and its HTTP port answers
 * 200; stopped with SIGTERM (SIGKILL if it hangs).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './ports.js';

/** The LiveKit server release the tests (and CI) build. */
export const LIVEKIT_SERVER_VERSION = 'v1.13.5';
export const LIVEKIT_INSTALL_COMMAND = `go install github.com/livekit/livekit-server/cmd/server@${LIVEKIT_SERVER_VERSION}`;

export interface LiveKitServer {
  /** Signalling URL for clients, ws://127.0.0.1:<port>. */
  url: string;
  port: number;
  apiKey: string;
  apiSecret: string;
  process: ChildProcess;
  /** The server's recent log output (for failure messages). */
  logs(): string;
  stop(): Promise<void>;
}

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const isLiveKit = (path: string): boolean => {
  try {
    return execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 }).includes('livekit-server');
  } catch {
    return false;
  }
};

/**
 * The LiveKit server binary: `LIVEKIT_SERVER_BIN`, else `livekit-server` on PATH, else the
 * `server` that `go install` puts in `$(go env GOPATH)/bin`. Throws (never skips) naming the
 * install command when there is none.
 */
export function findLiveKitServer(env: NodeJS.ProcessEnv = process.env): string {
  const tried: string[] = [];
  if (env.LIVEKIT_SERVER_BIN) {
    if (isExecutable(env.LIVEKIT_SERVER_BIN) && isLiveKit(env.LIVEKIT_SERVER_BIN)) return env.LIVEKIT_SERVER_BIN;
    throw new Error(`LIVEKIT_SERVER_BIN=${env.LIVEKIT_SERVER_BIN} is not a runnable LiveKit server binary`);
  }
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, 'livekit-server');
    tried.push(candidate);
    if (isExecutable(candidate) && isLiveKit(candidate)) return candidate;
  }
  let gopath = env.GOPATH;
  if (!gopath) {
    try {
      gopath = execFileSync('go', ['env', 'GOPATH'], { encoding: 'utf8', timeout: 10_000 }).trim();
    } catch {
      gopath = env.HOME ? join(env.HOME, 'go') : undefined;
    }
  }
  if (gopath) {
    const candidate = join(gopath.split(delimiter)[0] as string, 'bin', 'server');
    tried.push(candidate);
    if (isExecutable(candidate) && isLiveKit(candidate)) return candidate;
  }
  throw new Error(
    `The LiveKit server binary is missing (looked for LIVEKIT_SERVER_BIN, then ${tried.join(', ')}). ` +
      `Install it with \`${LIVEKIT_INSTALL_COMMAND}\` (Go ≥ 1.26; .ci/run does this) or point LIVEKIT_SERVER_BIN at one.`,
  );
}

/** A UDP port nothing is bound to right now. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

export interface LiveKitServerOptions {
  timeoutMs?: number;
}

export async function startLiveKitServer(opts: LiveKitServerOptions = {}): Promise<LiveKitServer> {
  const bin = findLiveKitServer();
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const [port, tcpPort, udpPort] = [await freePort(), await freePort(), await freeUdpPort()];
  const apiKey = `test-${randomBytes(4).toString('hex')}`;
  const apiSecret = randomBytes(24).toString('hex'); // ≥ 32 characters, as LiveKit wants outside dev mode
  const dir = mkdtempSync(join(tmpdir(), 'livekit-test-'));
  const configFile = join(dir, 'livekit.yaml');
  // Media stays on loopback: only lo's addresses become ICE candidates.
  writeFileSync(
    configFile,
    [
      `port: ${port}`,
      'bind_addresses: [127.0.0.1]',
      'rtc:',
      `  tcp_port: ${tcpPort}`,
      `  udp_port: ${udpPort}`,
      '  node_ip: 127.0.0.1',
      '  use_external_ip: false',
      '  enable_loopback_candidate: true',
      '  interfaces:',
      '    includes: [lo]',
      'keys:',
      `  ${apiKey}: ${apiSecret}`,
      'logging:',
      '  level: info',
      '',
    ].join('\n'),
  );

  const child = spawn(bin, ['--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-20_000);
  };
  let started: () => void = () => undefined;
  const startedLine = new Promise<void>((resolve) => (started = resolve));
  const onData = (d: Buffer): void => {
    keep(d);
    if (log.includes('starting LiveKit server')) started();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`LiveKit server exited early (code ${String(code)}, signal ${String(signal)}):\n${log}`);
  });
  exited.catch(() => undefined);

  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const done = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await done;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      (async () => {
        await startedLine;
        // The log line comes just before the HTTP listener is up: one short retry loop at most.
        for (let i = 0; ; i += 1) {
          const ok = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false);
          if (ok) return;
          if (i > 200) throw new Error('LiveKit logged its start but its HTTP port does not answer');
          await new Promise((r) => setTimeout(r, 10));
        }
      })(),
      exited,
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`LiveKit server not ready after ${timeoutMs} ms:\n${log}`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return { url: `ws://127.0.0.1:${port}`, port, apiKey, apiSecret, process: child, logs: () => log, stop };
}
