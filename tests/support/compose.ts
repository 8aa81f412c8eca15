import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

/**
 * docker-compose.yml read the way Docker Compose reads it, for tests that cannot run Docker:
 * YAML with merge keys, `.env` interpolation, port lists, and the mapping that turns a service
 * definition into a native process (service host names → 127.0.0.1, container ports → free host
 * ports, container paths → host paths).
 */

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const COMPOSE_FILE = join(REPO_ROOT, 'docker-compose.yml');
export const ENV_EXAMPLE = join(REPO_ROOT, '.env.example');

export interface Healthcheck {
  test: string[] | string;
  interval?: string;
  timeout?: string;
  retries?: number;
  start_period?: string;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[];
  entrypoint?: string[];
  working_dir?: string;
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  ports?: string[];
  expose?: (string | number)[];
  depends_on?: Record<string, { condition: 'service_started' | 'service_healthy' | 'service_completed_successfully' }>;
  healthcheck?: Healthcheck;
  profiles?: string[];
  [key: string]: unknown;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
  [key: string]: unknown;
}

/** KEY=VALUE lines as Compose reads `.env` (comments, blank lines, optional quotes). */
export function parseDotEnv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new Error(`.env line ${i + 1} is not KEY=VALUE: ${raw}`);
    let value = m[2]!;
    const quoted = /^(['"])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2]!;
    else value = value.replace(/\s+#.*$/, '');
    out[m[1]!] = value;
  }
  return out;
}

/** The `${VAR}` names a string refers to (for documentation checks). */
export function referencedVariables(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.replaceAll('$$', '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)|\$([A-Za-z_][A-Za-z0-9_]*)/g)) names.add((m[1] ?? m[2])!);
  return names;
}

/**
 * Compose's interpolation: `$$` is a literal `$`; `${V}` and `$V`; `${V:-d}` (unset or empty → d),
 * `${V-d}` (unset → d); `${V:?msg}` / `${V?msg}` fail; `${V:+r}` / `${V+r}` substitute r when set.
 */
export function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, name?: string, op?: string, arg?: string, bare?: string) => {
    if (whole === '$$') return '$';
    if (bare) return env[bare] ?? '';
    const v = env[name!];
    const unset = v === undefined;
    const empty = unset || v === '';
    if (arg?.includes('$')) throw new Error(`nested interpolation is not supported here: ${whole}`);
    switch (op) {
      case undefined:
        return v ?? '';
      case ':-':
        return empty ? arg! : v!;
      case '-':
        return unset ? arg! : v!;
      case ':?':
      case '?':
        if (op === ':?' ? empty : unset) throw new Error(`required variable ${name} is missing: ${arg}`);
        return v!;
      case ':+':
        return empty ? '' : arg!;
      case '+':
        return unset ? '' : arg!;
      default:
        throw new Error(`unknown interpolation ${whole}`);
    }
  });
}

function interpolateTree(node: unknown, env: Record<string, string | undefined>): unknown {
  if (typeof node === 'string') return interpolate(node, env);
  if (Array.isArray(node)) return node.map((n) => interpolateTree(n, env));
  if (node !== null && typeof node === 'object') return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateTree(v, env)]));
  return node;
}

/** The compose file as YAML (merge keys resolved), before interpolation. */
export function readComposeRaw(file = COMPOSE_FILE): ComposeFile {
  return parseYaml(readFileSync(file, 'utf8'), { merge: true }) as ComposeFile;
}

/** The compose file as Compose sees it with the given `.env` values (default: none, so every `${V:-d}` default applies). */
export function loadCompose(env: Record<string, string | undefined> = {}, file = COMPOSE_FILE): ComposeFile {
  return interpolateTree(readComposeRaw(file), env) as ComposeFile;
}

export function readEnvExample(): Record<string, string> {
  return parseDotEnv(readFileSync(ENV_EXAMPLE, 'utf8'));
}

export interface PortMapping {
  host?: number;
  container: number;
  protocol: 'tcp' | 'udp';
}

/** One entry of `ports:` in the short syntax ("8080:8080", "7882:7882/udp", "50000-50099:50000-50099/udp", "127.0.0.1:80:80"). */
export function parsePorts(spec: string): PortMapping[] {
  const [body, proto = 'tcp'] = spec.split('/');
  const parts = body!.split(':');
  const containerPart = parts.at(-1)!;
  const hostPart = parts.length >= 2 ? parts.at(-2)! : undefined;
  const range = (s: string): number[] => {
    const [a, b] = s.split('-').map(Number);
    if (!Number.isInteger(a)) throw new Error(`bad port ${spec}`);
    return b === undefined ? [a!] : Array.from({ length: b - a! + 1 }, (_, i) => a! + i);
  };
  const container = range(containerPart);
  const host = hostPart ? range(hostPart) : undefined;
  if (host && host.length !== container.length) throw new Error(`port ranges differ in length: ${spec}`);
  return container.map((c, i) => ({ container: c, host: host?.[i], protocol: proto as 'tcp' | 'udp' }));
}

/** Every container port a service listens on (TCP unless said), from `expose` and `ports`. */
export function containerPorts(service: ComposeService): PortMapping[] {
  const out: PortMapping[] = [];
  for (const e of service.expose ?? []) out.push(...parsePorts(String(e)));
  for (const p of service.ports ?? []) out.push(...parsePorts(p));
  return out;
}

export interface VolumeMount {
  source: string;
  target: string;
  readOnly: boolean;
  /** A bind mount of a host path (vs a named volume). */
  bind: boolean;
}

export function parseVolume(spec: string): VolumeMount {
  const [source, target, mode] = spec.split(':');
  if (!source || !target) throw new Error(`volume needs source:target, got ${spec}`);
  const bind = source.startsWith('.') || source.startsWith('/');
  return { source: bind ? resolve(REPO_ROOT, source) : source, target, readOnly: mode === 'ro', bind };
}

/** Services in an order that starts every dependency first (Compose's own order). */
export function startOrder(compose: ComposeFile, names: readonly string[]): string[] {
  const order: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string): void => {
    if (order.includes(name)) return;
    if (visiting.has(name)) throw new Error(`dependency cycle through ${name}`);
    visiting.add(name);
    const svc = compose.services[name];
    if (!svc) throw new Error(`no service ${name}`);
    for (const dep of Object.keys(svc.depends_on ?? {})) if (names.includes(dep)) visit(dep);
    visiting.delete(name);
    order.push(name);
  };
  for (const n of names) visit(n);
  return order;
}

/** How a compose service becomes a process on this machine. */
export interface NativeMapping {
  compose: ComposeFile;
  /** Host directory standing in for each container's working_dir (the compiled build output). */
  workDir: string;
  /** service → container port → the port it really listens on here. */
  ports: Record<string, Record<number, number>>;
  /** Container paths replaced by other host files (e.g. a config rewritten for free ports). */
  files?: Record<string, string>;
}

const URL_WITH_PORT = /^([a-z][a-z0-9+.-]*:\/\/)(?:([^@/]*)@)?([A-Za-z0-9_.-]+):(\d+)(.*)$/;

/**
 * One value (environment value or command argument) of service `self` as it must be natively:
 *   scheme://<service>:<port>... → scheme://127.0.0.1:<that service's native port>...
 *   scheme://127.0.0.1|localhost:<port>... → this service's own native port (other ports: unchanged)
 *   <service name> in a variable named *HOST → 127.0.0.1
 *   "<one of this service's container ports>" → its native port
 *   a container path under a bind mount or the working dir → the host path.
 */
export function nativeValue(value: string, self: string, m: NativeMapping, key?: string): string {
  const service = m.compose.services[self]!;
  const url = URL_WITH_PORT.exec(value);
  if (url) {
    const [, scheme, auth, host, port, rest] = url;
    const local = host === '127.0.0.1' || host === 'localhost';
    // A local URL is the service's own port, unless it is not one (then it is a port published on
    // the host, e.g. Caddy's, seen from a browser: left as it is).
    // (A port the mapping names for this service counts too: Caddy's admin API, container-local.)
    const ownPort = containerPorts(service).some((p) => p.container === Number(port)) || m.ports[self]?.[Number(port)] !== undefined;
    const owner = local ? (ownPort ? self : undefined) : m.compose.services[host!] ? host! : undefined;
    if (owner) {
      const mapped = m.ports[owner]?.[Number(port)];
      if (mapped === undefined) throw new Error(`${self}: ${value} names ${owner}:${port}, which has no native port`);
      return `${scheme}${auth ? `${auth}@` : ''}127.0.0.1:${mapped}${rest}`;
    }
    return value;
  }
  // A bare service name is a host name only where the variable says so (WORKER_ADVERTISE_HOST);
  // elsewhere it is just a name (WORKER_NAME: tts0).
  if (m.compose.services[value]) return key !== undefined && /HOST$/.test(key) ? '127.0.0.1' : value;
  if (/^\d+$/.test(value)) {
    const own = m.ports[self]?.[Number(value)];
    if (own !== undefined && containerPorts(service).some((p) => p.container === Number(value))) return String(own);
    return value;
  }
  if (value.startsWith('/')) {
    if (m.files?.[value]) return m.files[value]!;
    for (const v of (service.volumes ?? []).map(parseVolume)) {
      if (v.bind && (value === v.target || value.startsWith(`${v.target}/`))) return join(v.source, relative(v.target, value));
    }
    if (service.working_dir && (value === service.working_dir || value.startsWith(`${service.working_dir}/`))) {
      return join(m.workDir, relative(service.working_dir, value));
    }
  }
  return value;
}

export interface NativeProcess {
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** The health check's command, mapped the same way; undefined when the service has none. */
  healthcheck?: string[];
}

/**
 * The service as a native process: its `entrypoint` + `command` (an image's own entrypoint, which
 * compose does not show, comes from `imageEntrypoint`) with every value mapped by nativeValue.
 */
export function nativeProcess(self: string, m: NativeMapping, imageEntrypoint: string[] = []): NativeProcess {
  const svc = m.compose.services[self];
  if (!svc) throw new Error(`no service ${self}`);
  const map = (v: string) => nativeValue(v, self, m);
  const argv = [...(svc.entrypoint ?? imageEntrypoint), ...(svc.command ?? [])].map(map);
  if (argv.length === 0) throw new Error(`${self} has no command`);
  if (argv[0] === 'node') argv[0] = process.execPath;
  const env = Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, nativeValue(v === null ? '' : String(v), self, m, k)]));
  const test = svc.healthcheck?.test;
  let healthcheck: string[] | undefined;
  if (Array.isArray(test)) {
    if (test[0] !== 'CMD') throw new Error(`${self}: healthcheck must use the exec form ["CMD", ...], got ${test[0]}`);
    healthcheck = test.slice(1).map(map);
    if (healthcheck[0] === 'node') healthcheck[0] = process.execPath;
  } else if (typeof test === 'string') {
    throw new Error(`${self}: healthcheck must use the exec form ["CMD", ...]`);
  }
  const cwd = svc.working_dir ? m.workDir : REPO_ROOT;
  return { argv, env, cwd, ...(healthcheck && { healthcheck }) };
}

