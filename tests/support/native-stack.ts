import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { freePort } from '../helpers/ports.js';
import { containerPorts, nativeProcess, parseVolume, REPO_ROOT, type ComposeFile, type NativeMapping, type NativeProcess } from './compose.js';

/**
 * The Compose stack as native processes: each service runs its compose command with its compose
 * environment, mapped by tests/support/compose.ts (service names → 127.0.0.1, container ports →
 * free ports, container paths → host paths), started in depends_on order once each dependency's
 * own compose health check passes — what `docker compose up` does, without Docker.
 */

/** What every native process gets besides its compose environment (containers inherit nothing else). */
const baseEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' });

/** `npm run build:server` into `dir`, plus what the image has beside it: node_modules (and, natively, the vendored eSpeak NG). */
export async function buildServerInto(dir: string): Promise<void> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'build-server.mjs'), '--out', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`build:server failed (${String(code)}):\n${output}`);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'));
  // The worker image takes eSpeak NG 1.52 from Debian 13; here it is the copy setup-espeak vendored.
  symlinkSync(join(REPO_ROOT, 'vendor'), join(dir, 'vendor'));
}

/**
 * A block of `count` consecutive UDP ports that can all be bound right now, below the kernel's
 * ephemeral range (32768+), where WebRTC clients' own `bind(0)` sockets land.
 */
export async function freeUdpRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = 20_000 + Math.floor(Math.random() * (12_768 - count));
    const sockets: Socket[] = [];
    try {
      for (let p = base; p < base + count; p += 1) {
        const s = createSocket('udp4');
        sockets.push(s);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(p, '127.0.0.1', () => resolve());
        });
      }
      return base;
    } catch {
      // taken: try another block
    } finally {
      await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r())).catch(() => undefined)));
    }
  }
  throw new Error(`no ${count} consecutive free UDP ports found`);
}

/** Native ports for every TCP container port of the given services. */
export async function allocatePorts(compose: ComposeFile, services: readonly string[]): Promise<Record<string, Record<number, number>>> {
  const out: Record<string, Record<number, number>> = {};
  for (const name of services) {
    out[name] = {};
    for (const p of containerPorts(compose.services[name]!)) {
      if (p.protocol === 'tcp' && out[name][p.container] === undefined) out[name][p.container] = await freePort();
    }
  }
  return out;
}

/**
 * configs/livekit.yaml as mounted into the livekit service, rewritten for this machine: the
 * mapped signalling and RTC TCP ports, a free TURN UDP port and media range, loopback only.
 */
export async function nativeLivekitConfig(compose: ComposeFile, ports: Record<string, Record<number, number>>, dir: string): Promise<{ containerPath: string; hostPath: string }> {
  const mount = (compose.services.livekit!.volumes ?? []).map(parseVolume).find((v) => v.source.endsWith('livekit.yaml'));
  if (!mount) throw new Error('livekit service mounts no livekit.yaml');
  const config = parseYaml(readFileSync(mount.source, 'utf8')) as {
    port: number;
    rtc: { tcp_port: number; port_range_start: number; port_range_end: number; [k: string]: unknown };
    turn: { udp_port: number; [k: string]: unknown };
    [k: string]: unknown;
  };
  const map = (p: number) => {
    const m = ports.livekit?.[p];
    if (m === undefined) throw new Error(`livekit port ${p} has no native port`);
    return m;
  };
  const mediaPorts = 20;
  const udp = await freeUdpRange(mediaPorts + 1);
  const native = {
    ...config,
    port: map(config.port),
    bind_addresses: ['127.0.0.1'],
    rtc: { ...config.rtc, tcp_port: map(config.rtc.tcp_port), port_range_start: udp + 1, port_range_end: udp + mediaPorts },
    turn: { ...config.turn, udp_port: udp, bind_addresses: ['127.0.0.1'] },
  };
  mkdirSync(dir, { recursive: true });
  const hostPath = join(dir, 'livekit.yaml');
  writeFileSync(hostPath, stringifyYaml(native));
  return { containerPath: mount.target, hostPath };
}

/** Caddy's admin API port inside its container (the Caddyfile leaves it at Caddy's default). */
export const CADDY_ADMIN_PORT = 2019;

interface CaddyHandler {
  handler: string;
  routes?: { handle?: CaddyHandler[] }[];
  upstreams?: { dial: string }[];
  headers?: Record<string, string[]>;
}

/**
 * The Caddyfile mounted into the caddy service, as Caddy itself adapts it (`caddy adapt`, with the
 * service's environment), rewritten for this machine: listeners on loopback at the mapped ports,
 * upstreams `service:port` at their native ports, the redirect's target port, the admin API on its
 * mapped port. Returns the image's command to run it: `caddy run --config <json>`.
 */
export async function nativeCaddyCommand(compose: ComposeFile, ports: Record<string, Record<number, number>>, dir: string): Promise<string[]> {
  const svc = compose.services.caddy!;
  const mount = (svc.volumes ?? []).map(parseVolume).find((v) => v.target === '/etc/caddy/Caddyfile');
  if (!mount) throw new Error('caddy service mounts no /etc/caddy/Caddyfile');
  const env = { ...baseEnv(), ...Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, String(v ?? '')])) };
  mkdirSync(dir, { recursive: true });
  const adapted = await run(['caddy', 'adapt', '--config', mount.source, '--adapter', 'caddyfile'], { cwd: dir, env });
  if (adapted.code !== 0) throw new Error(`caddy adapt failed: ${adapted.output}`);
  const config = JSON.parse(adapted.output.slice(adapted.output.indexOf('{'))) as {
    admin?: { listen?: string };
    apps: { http: { http_port?: number; https_port?: number; servers: Record<string, { listen: string[]; routes: { handle?: CaddyHandler[] }[] }> } };
  };
  const own = (p: number) => {
    const m = ports.caddy?.[p];
    if (m === undefined) throw new Error(`caddy port ${p} has no native port`);
    return m;
  };
  const http = config.apps.http;
  if (http.http_port) http.http_port = own(http.http_port);
  if (http.https_port) http.https_port = own(http.https_port);
  const rewrite = (handlers: CaddyHandler[] = []): void => {
    for (const h of handlers) {
      for (const u of h.upstreams ?? []) {
        const [host, port] = u.dial.split(':');
        const mapped = ports[host!]?.[Number(port)];
        if (mapped === undefined) throw new Error(`caddy upstream ${u.dial} has no native port`);
        u.dial = `127.0.0.1:${mapped}`;
      }
      for (const values of Object.values(h.headers ?? {})) {
        for (const [i, v] of values.entries()) values[i] = v.replace(/:(\d+)(?=\{|\/|$)/, (whole, p: string) => (ports.caddy?.[Number(p)] ? `:${ports.caddy[Number(p)]}` : whole));
      }
      for (const r of h.routes ?? []) rewrite(r.handle);
    }
  };
  for (const server of Object.values(http.servers)) {
    server.listen = server.listen.map((l) => `127.0.0.1:${own(Number(l.split(':').at(-1)))}`);
    for (const r of server.routes) rewrite(r.handle);
  }
  config.admin = { listen: `127.0.0.1:${own(CADDY_ADMIN_PORT)}` };
  const file = join(dir, 'caddy.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return ['caddy', 'run', '--config', file];
}

export interface RunningService {
  name: string;
  native: NativeProcess;
  child: ChildProcess;
  /** The process's output so far (for failure messages). */
  output(): string;
  /** Runs the service's compose health check once: exit code and output. */
  healthcheck(): Promise<{ code: number | null; output: string }>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs argv to completion; resolves with its exit code and combined output. */
export async function run(argv: string[], opts: { cwd: string; env: Record<string, string> }): Promise<{ code: number | null; output: string }> {
  const child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await Promise.race([once(child, 'exit'), once(child, 'error').then(([e]) => Promise.reject(e as Error))])) as [number | null];
  return { code, output };
}


export interface StartOptions {
  mapping: NativeMapping;
  /** Image entrypoints compose does not show (e.g. livekit → the native server binary). */
  entrypoints?: Record<string, string[]>;
  /** Extra environment per service, on top of its compose environment (say why at the call). */
  extraEnv?: Record<string, Record<string, string>>;
  /** How long a service may take to pass its health check. */
  healthyWithinMs?: number;
}

/**
 * Starts `services` as compose would: each once its depends_on services are healthy (their own
 * health check passing), independent ones concurrently. Resolves when all are healthy; on any
 * failure every started process is killed and the error names the service and its output.
 */
export async function startServices(services: readonly string[], opts: StartOptions): Promise<{ services: Map<string, RunningService>; stop(): Promise<void> }> {
  const running = new Map<string, RunningService>();
  const healthy = new Map<string, Promise<void>>();
  let stopped = false;
  const stop = async () => {
    stopped = true;
    await Promise.all(
      [...running.values()].reverse().map(async (s) => {
        if (s.child.exitCode !== null || s.child.signalCode !== null) return;
        s.child.kill('SIGTERM');
        const timer = setTimeout(() => s.child.kill('SIGKILL'), 5000);
        await s.exited;
        clearTimeout(timer);
      }),
    );
  };

  const start = (name: string): Promise<void> => {
    const existing = healthy.get(name);
    if (existing) return existing;
    const promise = (async () => {
      const svc = opts.mapping.compose.services[name];
      if (!svc) throw new Error(`no service ${name}`);
      const deps = Object.keys(svc.depends_on ?? {}).filter((d) => services.includes(d));
      await Promise.all(deps.map(start));
      if (stopped) throw new Error(`${name} not started: the stack is stopping`);
      const native = nativeProcess(name, opts.mapping, opts.entrypoints?.[name]);
      const env = { ...baseEnv(), ...native.env, ...opts.extraEnv?.[name] };
      const child = spawn(native.argv[0]!, native.argv.slice(1), { cwd: native.cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const keep = (d: Buffer) => {
        output = (output + d.toString()).slice(-20_000);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      child.once('error', (err) => keep(Buffer.from(`spawn error: ${err.message}\n`)));
      const service: RunningService = {
        name,
        native,
        child,
        output: () => output,
        exited,
        healthcheck: () => {
          if (!native.healthcheck) throw new Error(`${name} has no health check`);
          return run(native.healthcheck, { cwd: native.cwd, env: { ...baseEnv(), ...native.env } });
        },
      };
      running.set(name, service);
      // Healthy = the compose health check passes; polled (no fixed sleeps), failing fast if the
      // process dies. Each check is a process (node for the HTTP ones), so the interval grows
      // (100 ms → 800 ms) rather than spending the CPU the starting services need.
      const deadline = Date.now() + (opts.healthyWithinMs ?? 60_000);
      let interval = 100;
      for (;;) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`${name} exited (${String(child.exitCode ?? child.signalCode)}) before it was healthy: ${native.argv.join(' ')}\n${output}`);
        }
        const r = await service.healthcheck();
        if (r.code === 0) return;
        if (Date.now() > deadline) throw new Error(`${name} not healthy within ${opts.healthyWithinMs ?? 60_000} ms; last check: ${r.output}\n${output}`);
        await Promise.race([new Promise((r2) => setTimeout(r2, interval)), exited]);
        interval = Math.min(interval * 2, 800);
      }
    })();
    healthy.set(name, promise);
    return promise;
  };

  try {
    await Promise.all(services.map(start));
  } catch (err) {
    await stop();
    throw err;
  }
  return { services: running, stop };
}
