import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { DockerfileParser, type Dockerfile } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import ts from 'typescript';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_NODE_ENV, WORKER_NODE_FLAGS } from '../../bench/worker-process.js';
import { loadOrchestratorConfig } from '../../orchestrator/config.js';
import { LIVEKIT_SERVER_VERSION } from '../helpers/livekit-server.js';
import { loadWorkerConfig } from '../../workers/tts/config.js';
import { DEFAULT_REALTIME_PRIORITY } from '../../platform/realtime-priority.js';
import {
  containerPorts,
  ENV_EXAMPLE,
  loadCompose,
  nativeValue,
  parsePorts,
  parseVolume,
  readComposeRaw,
  readEnvExample,
  referencedVariables,
  REPO_ROOT,
  type ComposeFile,
  type ComposeService,
} from '../support/compose.js';

/**
 * Everything docker-compose.yml says must agree with what the rest of the project says: SPEC §2
 * ports, configs/*.yaml as the code loads them, the code's defaults, .env.example, the Caddyfile
 * (as Caddy itself parses it), configs/livekit.yaml, the Dockerfile and .dockerignore. Every file
 * is parsed, never grepped.
 */

// Docker's own .dockerignore rules. A CommonJS module whose typings declare an ES default export
// (which NodeNext resolution cannot call), so it is required as what it is.
interface DockerIgnoreMatcher {
  add(patterns: string[]): DockerIgnoreMatcher;
  ignores(path: string): boolean;
}
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as (options?: { ignorecase?: boolean }) => DockerIgnoreMatcher;

/** Caddy's admin API listens on localhost:2019 unless the Caddyfile says otherwise (it does not). */
const CADDY_ADMIN_PORT = 2019;
const read = (rel: string) => readFileSync(join(REPO_ROOT, rel), 'utf8');
const WORKERS = ['tts0', 'tts1'] as const;

/** SPEC §2's table: who → the ports in its row (udp marked). */
function specPorts(): Map<string, PortSpec[]> {
  // The contract lives in shared/ beside the repository; a clone of the repository alone (CI)
  // has the copy in tests/fixtures, which must match the contract wherever both exist.
  const specFile = join(REPO_ROOT, '..', 'shared', 'SPEC.md');
  const copy = read('tests/fixtures/spec-ports.md').replace(/^<!--[\s\S]*?-->\n/, '');
  let section = copy;
  if (existsSync(specFile)) {
    const live = /## 2\. Ports[^\n]*\n([\s\S]*?)\n## /.exec(readFileSync(specFile, 'utf8'))?.[1];
    if (!live) throw new Error('SPEC.md has no "## 2. Ports" section');
    if (`${live}\n` !== copy) throw new Error(`SPEC §2 changed: update tests/fixtures/spec-ports.md from ${specFile}`);
    section = live;
  }
  const rows = new Map<string, PortSpec[]>();
  for (const line of section.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (cells.length < 4 || !/^\d/.test(cells[1]!)) continue;
    const ports = cells[1]!.split('/').map((p) => p.trim()).flatMap((p): PortSpec[] => {
      const m = /^(\d+)(?:-(\d+))?(?:\s+(udp|tcp))?$/.exec(p);
      if (!m) throw new Error(`SPEC §2: cannot read port "${p}"`);
      return [{ from: Number(m[1]), to: Number(m[2] ?? m[1]), protocol: (m[3] ?? 'tcp') as 'tcp' | 'udp' }];
    });
    // One row per port for some services (8080 and 8081 are both "orchestrator"): keep their order.
    rows.set(cells[2]!, [...(rows.get(cells[2]!) ?? []), ...ports]);
  }
  return rows;
}
interface PortSpec {
  from: number;
  to: number;
  protocol: 'tcp' | 'udp';
}

const tcp = (svc: ComposeService) => new Set(containerPorts(svc).filter((p) => p.protocol === 'tcp').map((p) => p.container));
const env = (svc: ComposeService): Record<string, string> => Object.fromEntries(Object.entries(svc.environment ?? {}).map(([k, v]) => [k, String(v ?? '')]));

/** Calls `load(env)` with an environment that records every variable the loader reads. */
function variablesRead(baseEnv: Record<string, string>, load: (env: NodeJS.ProcessEnv) => unknown): Set<string> {
  const seen = new Set<string>();
  const recording = new Proxy(baseEnv, {
    get: (target, key) => {
      if (typeof key === 'string') seen.add(key);
      return target[key as string];
    },
  });
  load(recording);
  return seen;
}

/** Caddy's own reading of the Caddyfile (`caddy adapt`), as JSON. */
function adaptCaddyfile(): CaddyJson {
  try {
    return JSON.parse(execFileSync('caddy', ['adapt', '--config', join(REPO_ROOT, 'Caddyfile'), '--adapter', 'caddyfile'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })) as CaddyJson;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error('caddy is not installed: `apt-get install caddy` (.ci/run installs it); the Caddyfile check needs it', { cause: err });
    }
    throw err;
  }
}
interface CaddyRoute {
  match?: { host?: string[]; path?: string[] }[];
  handle?: CaddyHandler[];
}
interface CaddyHandler {
  handler: string;
  routes?: CaddyRoute[];
  upstreams?: { dial: string }[];
  headers?: Record<string, string[]>;
  status_code?: number;
  strip_path_prefix?: string;
}
interface CaddyJson {
  admin?: unknown;
  apps: { http: { http_port?: number; https_port?: number; servers: Record<string, { listen: string[]; routes: CaddyRoute[]; automatic_https?: { disable_redirects?: boolean } }> }; tls?: unknown; pki?: unknown };
}

/** Every handler in a route tree, depth first, with the path matchers that lead to it. */
function handlers(routes: CaddyRoute[], paths: string[] = []): { handler: CaddyHandler; paths: string[] }[] {
  return routes.flatMap((r) => {
    const here = [...paths, ...(r.match ?? []).flatMap((m) => m.path ?? [])];
    return (r.handle ?? []).flatMap((h) => [{ handler: h, paths: here }, ...handlers(h.routes ?? [], here)]);
  });
}

describe('docker-compose.yml agrees with the rest of the project', () => {
  let compose: ComposeFile;
  let envExample: Record<string, string>;
  let spec: Map<string, PortSpec[]>;
  let livekitYaml: { port: number; keys?: unknown; rtc: { tcp_port: number; port_range_start: number; port_range_end: number }; turn: { enabled: boolean; udp_port: number } };
  let caddy: CaddyJson;
  let dockerfile: Dockerfile;
  let tmp: string;

  beforeAll(() => {
    compose = loadCompose({});
    envExample = readEnvExample();
    spec = specPorts();
    livekitYaml = parseYaml(read('configs/livekit.yaml')) as typeof livekitYaml;
    caddy = adaptCaddyfile();
    dockerfile = DockerfileParser.parse(read('Dockerfile'));
    tmp = mkdtempSync(join(tmpdir(), 'compose-consistency-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const specFor = (who: string): PortSpec[] => {
    const row = spec.get(who);
    if (!row) throw new Error(`SPEC §2 has no row for ${who}; rows: ${[...spec.keys()].join(', ')}`);
    return row;
  };
  const specNumbers = (who: string) => specFor(who).map((p) => p.from);

  describe('ports (SPEC §2)', () => {
    it('orchestrator: 8080 and 8081 in compose, its config as loaded, and the code defaults', () => {
      const [wsPort, httpPort] = specNumbers('orchestrator');
      const svc = compose.services.orchestrator!;
      expect(tcp(svc)).toEqual(new Set([wsPort, httpPort]));
      // Published on the same host ports as inside.
      for (const p of (svc.ports ?? []).flatMap(parsePorts)) expect(p.host).toBe(p.container);
      const cfg = loadOrchestratorConfig(nativeValue(env(svc).ORCHESTRATOR_CONFIG!, 'orchestrator', { compose, workDir: REPO_ROOT, ports: {} }), env(svc));
      expect([cfg.ws_port, cfg.http_port]).toEqual([wsPort, httpPort]);
      // The defaults with no file content and no environment, and the native config file.
      const empty = join(tmp, 'empty.yaml');
      writeFileSync(empty, '');
      const defaults = loadOrchestratorConfig(empty, {});
      expect([defaults.ws_port, defaults.http_port]).toEqual([wsPort, httpPort]);
      const native = loadOrchestratorConfig(join(REPO_ROOT, 'configs/orchestrator.yaml'), {});
      expect([native.ws_port, native.http_port]).toEqual([wsPort, httpPort]);
    });

    it('TTS workers: 7001 and 9090 in compose, configs/worker.yaml with each worker\'s environment, and the defaults', () => {
      const [grpcPort, httpPort] = specNumbers('TTS worker');
      for (const name of WORKERS) {
        const svc = compose.services[name]!;
        expect(tcp(svc), name).toEqual(new Set([grpcPort, httpPort]));
        const cfg = loadWorkerConfig(undefined, env(svc));
        expect([cfg.port, cfg.http_port], name).toEqual([grpcPort, httpPort]);
      }
      for (const p of (compose.services.tts0!.ports ?? []).flatMap(parsePorts)) expect(p.host).toBe(p.container);
      // tts1 publishes nothing: its ports would collide with tts0's on the host.
      expect(compose.services.tts1!.ports).toBeUndefined();
      const empty = join(tmp, 'empty-worker.yaml');
      writeFileSync(empty, '');
      const defaults = loadWorkerConfig(empty, {});
      expect([defaults.port, defaults.http_port]).toEqual([grpcPort, httpPort]);
      const file = loadWorkerConfig(undefined, {});
      expect([file.port, file.http_port]).toEqual([grpcPort, httpPort]);
    });

    it('Redis: 6379, internal to the compose network (not published)', () => {
      const svc = compose.services.redis!;
      expect(tcp(svc)).toEqual(new Set(specNumbers('Redis')));
      expect(svc.ports).toBeUndefined();
      expect(svc.command).toEqual(expect.arrayContaining(['--port', String(specNumbers('Redis')[0])]));
    });

    it('LiveKit: the image is the server release the tests run natively', () => {
      expect(compose.services.livekit!.image).toBe(`livekit/livekit-server:${LIVEKIT_SERVER_VERSION}`);
    });

    it('LiveKit: signalling, RTC TCP, TURN/UDP and the media range in configs/livekit.yaml and published by compose', () => {
      const [signal, rtcTcp, turnUdp, media] = specFor('LiveKit server');
      expect(livekitYaml.port).toBe(signal!.from);
      expect(livekitYaml.rtc.tcp_port).toBe(rtcTcp!.from);
      expect(livekitYaml.turn).toMatchObject({ enabled: true, udp_port: turnUdp!.from });
      expect(turnUdp!.protocol).toBe('udp');
      expect([livekitYaml.rtc.port_range_start, livekitYaml.rtc.port_range_end]).toEqual([media!.from, media!.to]);
      expect(media!.protocol).toBe('udp');
      const published = (compose.services.livekit!.ports ?? []).flatMap(parsePorts);
      const has = (port: number, protocol: 'tcp' | 'udp') => published.some((p) => p.container === port && p.host === port && p.protocol === protocol);
      expect(has(signal!.from, 'tcp')).toBe(true);
      expect(has(rtcTcp!.from, 'tcp')).toBe(true);
      expect(has(turnUdp!.from, 'udp')).toBe(true);
      for (let p = media!.from; p <= media!.to; p += 1) expect(has(p, 'udp'), `udp ${p}`).toBe(true);
    });

    it('Caddy: 80, 8443 and 8444 published, and the Caddyfile (as Caddy parses it) listens on exactly those', () => {
      const want = specNumbers('Caddy');
      const published = (compose.services.caddy!.ports ?? []).flatMap(parsePorts);
      expect(published.map((p) => [p.host, p.container])).toEqual(want.map((p) => [p, p]));
      const listens = Object.values(caddy.apps.http.servers).flatMap((s) => s.listen);
      expect(listens.sort()).toEqual(want.map((p) => `:${p}`).sort());
      expect([caddy.apps.http.http_port, caddy.apps.http.https_port]).toEqual([want[0], want[1]]);
    });
  });

  describe('URLs, host names and routes', () => {
    it('every service URL in compose names a service and a port it listens on', () => {
      const urls: { from: string; url: string; host: string; port: number }[] = [];
      for (const [name, svc] of Object.entries(compose.services)) {
        const values = [...Object.values(env(svc)), ...(svc.command ?? []), ...(Array.isArray(svc.healthcheck?.test) ? svc.healthcheck.test : [])];
        for (const v of values) {
          const m = /^[a-z][a-z0-9+.-]*:\/\/([A-Za-z0-9_.-]+):(\d+)/.exec(v);
          if (m) urls.push({ from: name, url: v, host: m[1]!, port: Number(m[2]) });
        }
      }
      expect(urls.length).toBeGreaterThan(8);
      for (const u of urls) {
        if (u.host === 'localhost' && u.from === 'orchestrator') continue; // LIVEKIT_PUBLIC_URL: the browser's view, checked below
        if (u.from === 'caddy' && u.port === CADDY_ADMIN_PORT) continue; // Caddy's admin API, container-local, checked below
        const target = u.host === '127.0.0.1' ? u.from : u.host;
        const svc = compose.services[target];
        expect(svc, `${u.from}: ${u.url} names no service`).toBeDefined();
        expect(containerPorts(svc!).map((p) => p.container), `${u.from}: ${u.url}`).toContain(u.port);
      }
    });

    it('the orchestrator finds workers through the compose Redis, and each worker advertises a dialable, unique address', () => {
      const redisPort = specNumbers('Redis')[0];
      const orch = loadOrchestratorConfig(join(REPO_ROOT, 'configs/orchestrator.docker.yaml'), env(compose.services.orchestrator!));
      expect(orch.redis_url).toBe(`redis://redis:${redisPort}`);
      // With no environment at all the docker config is the same stack as compose without .env.
      const bare = loadOrchestratorConfig(join(REPO_ROOT, 'configs/orchestrator.docker.yaml'), {});
      expect(bare).toEqual(orch);
      expect(bare.redis_url).toBe(`redis://redis:${redisPort}`);
      expect(bare.static_workers).toEqual([`grpc://tts0:${specNumbers('TTS worker')[0]}`]);
      const names = new Set<string>();
      for (const name of WORKERS) {
        const cfg = loadWorkerConfig(undefined, env(compose.services[name]!));
        expect(cfg.redis_url, name).toBe(orch.redis_url);
        // The record's addr is grpc://<advertise_host>:<port>: the service's own name on the network.
        expect(cfg.advertise_host, name).toBe(name);
        expect(cfg.name, name).toBe(name);
        names.add(cfg.name);
        expect(cfg.model_manager.default_model).toBe(orch.voice);
      }
      expect(names.size).toBe(WORKERS.length);
    });

    it('Caddy routes the web client, /ws and LiveKit signalling to the right service ports', () => {
      const servers = Object.values(caddy.apps.http.servers);
      const on = (port: number) => servers.find((s) => s.listen.includes(`:${port}`))!;
      const [httpPort, webPort, livekitPort] = specNumbers('Caddy');
      const [wsPort, orchHttpPort] = specNumbers('orchestrator');
      const web = handlers(on(webPort!).routes);
      const proxies = web.filter((h) => h.handler.handler === 'reverse_proxy');
      expect(proxies.find((p) => p.paths.some((x) => x.startsWith('/ws')))?.handler.upstreams).toEqual([{ dial: `orchestrator:${wsPort}` }]);
      expect(proxies.find((p) => p.paths.length === 0)?.handler.upstreams).toEqual([{ dial: `orchestrator:${orchHttpPort}` }]);
      expect(web.some((h) => h.handler.handler === 'rewrite' && h.handler.strip_path_prefix === '/ws')).toBe(true);
      const lk = handlers(on(livekitPort!).routes).filter((h) => h.handler.handler === 'reverse_proxy');
      expect(lk.map((h) => h.handler.upstreams)).toEqual([[{ dial: `livekit:${livekitYaml.port}` }]]);
      const redirect = handlers(on(httpPort!).routes).find((h) => h.handler.handler === 'static_response')?.handler;
      expect(redirect?.status_code).toBe(301);
      expect(redirect?.headers?.Location?.[0]).toBe(`https://{http.request.host}:${webPort}{http.request.uri}`);
      // Caddy's automatic redirect would point at port 443; the one above is the only one.
      for (const s of servers) expect(s.automatic_https?.disable_redirects).toBe(true);
      // Every upstream is a compose service port.
      for (const s of servers) {
        for (const h of handlers(s.routes)) {
          for (const u of h.handler.upstreams ?? []) {
            const [host, port] = u.dial.split(':');
            expect(containerPorts(compose.services[host!]!).map((p) => p.container), u.dial).toContain(Number(port));
          }
        }
      }
      // Local certificates: Caddy's internal issuer, and no attempt to touch the host trust store.
      expect(JSON.stringify(caddy.apps.tls)).toContain('"module":"internal"');
      expect(JSON.stringify(caddy.apps.pki)).toContain('"install_trust":false');
    });

    it('LiveKit: the orchestrator dials it on the compose network, browsers get it through Caddy', () => {
      const e = env(compose.services.orchestrator!);
      expect(e.LIVEKIT_URL).toBe(`ws://livekit:${livekitYaml.port}`);
      const pub = new URL(e.LIVEKIT_PUBLIC_URL!);
      expect(pub.protocol).toBe('wss:');
      expect(Number(pub.port)).toBe(specNumbers('Caddy')[2]);
      expect(pub.hostname).toBe(compose.services.caddy!.environment!.SITE_HOST);
    });
  });

  describe('keys', () => {
    const pairs = (c: ComposeFile) => {
      const o = env(c.services.orchestrator!);
      // LiveKit parses LIVEKIT_KEYS as YAML: exactly "key: secret".
      const keys = parseYaml(env(c.services.livekit!).LIVEKIT_KEYS!) as Record<string, string>;
      return { orchestrator: { [o.LIVEKIT_API_KEY!]: o.LIVEKIT_API_SECRET }, livekit: keys };
    };

    it('the LiveKit server and the orchestrator get the same key pair, whatever .env says', () => {
      for (const dotenv of [{}, envExample, { LIVEKIT_API_KEY: 'APIk3y', LIVEKIT_API_SECRET: 'x'.repeat(40) }]) {
        const p = pairs(loadCompose(dotenv));
        expect(p.livekit).toEqual(p.orchestrator);
      }
      expect(pairs(loadCompose({ LIVEKIT_API_KEY: 'APIk3y', LIVEKIT_API_SECRET: 's3cr3t'.repeat(6) })).livekit).toEqual({ APIk3y: 's3cr3t'.repeat(6) });
    });

    it('configs/livekit.yaml holds no keys (the environment is the one source)', () => {
      expect(livekitYaml.keys).toBeUndefined();
    });

    it('the development pair is only the default together with LIVEKIT_DEV=true', () => {
      const o = env(compose.services.orchestrator!);
      expect([o.LIVEKIT_API_KEY, o.LIVEKIT_API_SECRET, o.LIVEKIT_DEV]).toEqual(['devkey', 'secret', 'true']);
    });
  });

  describe('environment variables', () => {
    it('.env.example sets every variable docker-compose.yml refers to, to the same default', () => {
      const strings = (node: unknown): string[] =>
        typeof node === 'string' ? [node] : node !== null && typeof node === 'object' ? Object.values(node).flatMap(strings) : [];
      const referenced = new Set(strings(readComposeRaw()).flatMap((v) => [...referencedVariables(v)]));
      expect(new Set(Object.keys(envExample))).toEqual(referenced);
      // Same defaults: the stack with .env.example is the stack with no .env at all.
      expect(loadCompose(envExample)).toEqual(loadCompose({}));
    });

    it('every variable compose gives the worker and the orchestrator is one their config loaders read', () => {
      for (const name of WORKERS) {
        const given = env(compose.services[name]!);
        const readByWorker = variablesRead(given, (e) => loadWorkerConfig(undefined, e));
        expect(Object.keys(given).filter((k) => !readByWorker.has(k)), name).toEqual([]);
      }
      const given = env(compose.services.orchestrator!);
      // The container path of the config, as the mount makes it appear here.
      given.ORCHESTRATOR_CONFIG = nativeValue(given.ORCHESTRATOR_CONFIG!, 'orchestrator', { compose, workDir: REPO_ROOT, ports: {} });
      const readByOrchestrator = variablesRead(given, (e) => loadOrchestratorConfig(undefined, e));
      expect(Object.keys(given).filter((k) => !readByOrchestrator.has(k))).toEqual([]);
    });

    it('.env.example documents every variable the services and their config loaders read', () => {
      const text = readFileSync(ENV_EXAMPLE, 'utf8');
      const documented = new Set([...Object.keys(envExample), ...[...text.matchAll(/^#\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!)]);
      const inCompose = Object.values(compose.services).flatMap((s) => Object.keys(s.environment ?? {}));
      const byLoaders = [
        ...variablesRead({}, (e) => loadWorkerConfig(undefined, e)),
        ...variablesRead({}, (e) => loadOrchestratorConfig(undefined, e)),
      ];
      const missing = [...new Set([...inCompose, ...byLoaders])].filter((k) => !documented.has(k));
      expect(missing).toEqual([]);
    });
  });

  describe('volumes and files', () => {
    it('every bind mount exists in the repository, and every named volume is declared', () => {
      for (const [name, svc] of Object.entries(compose.services)) {
        for (const v of (svc.volumes ?? []).map(parseVolume)) {
          if (v.bind) {
            // ./voicepacks holds user-downloaded voices and is always present (voicepacks/README.md).
            expect(existsSync(v.source), `${name}: ${v.source}`).toBe(true);
          } else {
            expect(Object.keys(compose.volumes ?? {}), `${name}: named volume ${v.source}`).toContain(v.source);
          }
        }
      }
    });

    it('workers read voices from the read-only voicepacks mount; the voice tool writes there', () => {
      for (const name of WORKERS) {
        const svc = compose.services[name]!;
        const mount = (svc.volumes ?? []).map(parseVolume).find((v) => v.source === join(REPO_ROOT, 'voicepacks'));
        expect(mount, name).toMatchObject({ readOnly: true });
        expect(loadWorkerConfig(undefined, env(svc)).model_manager.voicepacks_dir).toBe(mount!.target);
      }
      const tool = compose.services.voices!;
      const mount = (tool.volumes ?? []).map(parseVolume).find((v) => v.source === join(REPO_ROOT, 'voicepacks'));
      expect(mount).toMatchObject({ readOnly: false });
      expect(env(tool).VOICEPACKS_DIR).toBe(mount!.target);
      expect(statSync(join(REPO_ROOT, 'voicepacks')).isDirectory()).toBe(true);
    });

    it('the mounted configs are the ones the services are told to load', () => {
      const orch = compose.services.orchestrator!;
      const mount = (orch.volumes ?? []).map(parseVolume).find((v) => v.target === env(orch).ORCHESTRATOR_CONFIG);
      expect(mount?.source).toBe(join(REPO_ROOT, 'configs/orchestrator.docker.yaml'));
      const lk = compose.services.livekit!;
      const lkMount = (lk.volumes ?? []).map(parseVolume).find((v) => v.source === join(REPO_ROOT, 'configs/livekit.yaml'));
      expect(lk.command).toEqual(['--config', lkMount!.target]);
      const cd = (compose.services.caddy!.volumes ?? []).map(parseVolume).find((v) => v.source === join(REPO_ROOT, 'Caddyfile'));
      expect(cd?.target).toBe('/etc/caddy/Caddyfile');
    });

    it('configs/orchestrator.docker.yaml has exactly the keys of configs/orchestrator.yaml', () => {
      const keyPaths = (node: unknown, prefix = ''): string[] =>
        node !== null && typeof node === 'object' && !Array.isArray(node)
          ? Object.entries(node).flatMap(([k, v]) => [`${prefix}${k}`, ...keyPaths(v, `${prefix}${k}.`)])
          : [];
      expect(keyPaths(parseYaml(read('configs/orchestrator.docker.yaml'))).sort()).toEqual(keyPaths(parseYaml(read('configs/orchestrator.yaml'))).sort());
    });
  });

  describe('dependencies and health checks', () => {
    it('depends_on waits for health where a health check exists, in the order the stack needs', () => {
      for (const [name, svc] of Object.entries(compose.services)) {
        for (const [dep, { condition }] of Object.entries(svc.depends_on ?? {})) {
          expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
          expect(condition, `${name} → ${dep}`).toBe('service_healthy');
          expect(compose.services[dep]!.healthcheck, `${dep} has a health check`).toBeDefined();
        }
      }
      const deps = (n: string) => Object.keys(compose.services[n]!.depends_on ?? {}).sort();
      expect(deps('orchestrator')).toEqual(['livekit', 'redis', 'tts0']);
      expect(deps('caddy')).toEqual(['livekit', 'orchestrator']);
      for (const w of WORKERS) expect(deps(w)).toEqual(['redis']);
    });

    it('each health check probes the service\'s own port and endpoint', () => {
      const probe = (n: string) => (compose.services[n]!.healthcheck!.test as string[]).slice(1);
      for (const w of WORKERS) expect(probe(w)).toEqual(['node', 'scripts/healthcheck.mjs', `http://127.0.0.1:${specNumbers('TTS worker')[1]}/health`]);
      expect(probe('orchestrator')).toEqual(['node', 'scripts/healthcheck.mjs', `http://127.0.0.1:${specNumbers('orchestrator')[1]}/health`]);
      expect(probe('redis')).toEqual(['redis-cli', '-h', '127.0.0.1', '-p', String(specNumbers('Redis')[0]), 'ping']);
      expect(probe('livekit')).toEqual(['wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${livekitYaml.port}/`]);
      expect(probe('caddy')).toEqual(['wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${CADDY_ADMIN_PORT}/config/`]);
      expect(caddy.admin).toBeUndefined(); // the admin API stays at its default, localhost:2019
    });
  });

  describe('Dockerfile and build context', () => {
    const stage = (name: string) => {
      const from = dockerfile.getFROMs().find((f) => f.getBuildStage() === name);
      if (!from) throw new Error(`Dockerfile has no stage ${name}`);
      const start = from.getRange().start.line;
      const next = dockerfile.getFROMs().map((f) => f.getRange().start.line).filter((l) => l > start).sort((a, b) => a - b)[0] ?? Infinity;
      return dockerfile.getInstructions().filter((i) => i.getRange().start.line > start && i.getRange().start.line < next);
    };
    const last = (name: string, keyword: string) => stage(name).filter((i) => i.getKeyword() === keyword).at(-1)?.getArgumentsContent();

    it('lints clean (dockerfile-utils), and the linter does flag a broken file', () => {
      expect(lintDockerfile(read('Dockerfile'))).toEqual([]);
      expect(lintDockerfile('FROM\nEXPOSE port\nCMD')).not.toEqual([]);
    });

    it('each built service runs its target\'s command, ports, working dir and health check as a non-root user', () => {
      for (const [name, svc] of Object.entries(compose.services)) {
        if (!svc.build) continue;
        const target = svc.build.target!;
        expect(svc.image, name).toMatch(new RegExp(`^duplex-voice/${target === 'worker' ? 'tts-worker' : target}:`));
        expect(last(target, 'USER'), name).toBe('node');
        expect(last(target, 'WORKDIR'), name).toBe(svc.working_dir);
        if (svc.entrypoint) continue; // the voice tool runs another program from the same image
        expect(JSON.parse(last(target, 'CMD')!), name).toEqual(svc.command);
        expect(new Set(last(target, 'EXPOSE')!.split(/\s+/).map(Number)), name).toEqual(tcp(svc));
        const hc = last(target, 'HEALTHCHECK')!;
        expect(JSON.parse(hc.slice(hc.indexOf('CMD') + 3).trim()), name).toEqual((svc.healthcheck!.test as string[]).slice(1));
      }
      const vpEnv = stage('worker').find((i) => i.getKeyword() === 'ENV' && i.getArgumentsContent()?.startsWith('VOICEPACKS_DIR='));
      expect(vpEnv?.getArgumentsContent()).toBe(`VOICEPACKS_DIR=${env(compose.services.tts0!).VOICEPACKS_DIR}`);
    });

    it('the worker runs with the same Node flags everywhere: image, compose, `npm run worker`, the worker bench', () => {
      const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
      const flags = (argv: string[]) => argv.filter((a) => a.startsWith('--') && a !== '--import');
      expect(flags(compose.services.tts0!.command as string[])).toEqual(WORKER_NODE_FLAGS);
      expect(flags(JSON.parse(last('worker', 'CMD')!) as string[])).toEqual(WORKER_NODE_FLAGS);
      expect(flags(scripts.worker!.split(/\s+/))).toEqual(WORKER_NODE_FLAGS);
      expect(WORKER_NODE_FLAGS).toContain('--max-semi-space-size=2');
    });

    it('the worker and the orchestrator containers may take the realtime priority their configs ask for, and REALTIME_PRIORITY=10', () => {
      // USER node with no capabilities: only an rtprio limit lets sched_setscheduler grant it.
      const worker = loadWorkerConfig(undefined, env(compose.services.tts0!)).realtime_priority;
      const svc = compose.services.orchestrator!;
      const orchestrator = loadOrchestratorConfig(nativeValue(env(svc).ORCHESTRATOR_CONFIG!, 'orchestrator', { compose, workDir: REPO_ROOT, ports: {} }), env(svc)).realtime_priority;
      for (const [name, asked] of [['tts0', worker], ['tts1', worker], ['orchestrator', orchestrator]] as const) {
        const wanted = Math.max(asked, DEFAULT_REALTIME_PRIORITY); // also what .env.example sets
        const rtprio = (compose.services[name]!.ulimits as { rtprio?: number | { soft: number; hard: number } } | undefined)?.rtprio;
        const soft = typeof rtprio === 'object' ? rtprio.soft : rtprio;
        expect(soft, `${name} ulimits.rtprio`).toBeGreaterThanOrEqual(wanted);
      }
    });

    it('the worker runs with the same environment tuning everywhere: image (compose runs it), `npm run worker`, the benches', () => {
      const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
      const imageEnv = Object.fromEntries(
        stage('worker')
          .filter((i) => i.getKeyword() === 'ENV')
          .map((i) => i.getArgumentsContent()!.split('=', 2) as [string, string]),
      );
      const scriptEnv = Object.fromEntries(
        scripts.worker!.split(/\s+/).filter((a) => /^[A-Z_]+=/.test(a)).map((a) => a.split('=', 2) as [string, string]),
      );
      expect(WORKER_NODE_ENV).toEqual({ MALLOC_ARENA_MAX: '2' });
      for (const [key, value] of Object.entries(WORKER_NODE_ENV)) {
        expect(imageEnv[key], `Dockerfile ENV ${key}`).toBe(value);
        expect(scriptEnv[key], `npm run worker ${key}`).toBe(value);
      }
    });

    it('the images\' production dependencies cover every package the services import', () => {
      const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
      // What the containers run: each service's compose command (compiled .js → its .ts source),
      // and the inference worker thread the engine starts by URL.
      const entries = new Set(['workers/tts/engine/inference-thread.js']);
      for (const svc of Object.values(compose.services)) {
        const argv = [...(svc.entrypoint ?? []), ...(svc.command ?? [])];
        const script = argv.slice(1).find((a) => !a.startsWith('-'));
        if (svc.build && argv[0] === 'node' && script) entries.add(script.replace(/\.js$/, '.ts'));
      }
      expect([...entries].sort()).toEqual(['orchestrator/main.ts', 'scripts/voices-download.ts', 'workers/tts/engine/inference-thread.js', 'workers/tts/main.ts']);
      const packages = new Map<string, string>(); // package → a file importing it
      const seen = new Set<string>();
      const visit = (file: string): void => {
        if (seen.has(file)) return;
        seen.add(file);
        // TypeScript's own scanner: import/export/require specifiers, not text matches.
        for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
          if (fileName.startsWith('.')) {
            const target = join(dirname(file), fileName);
            const source = [target.replace(/\.js$/, '.ts'), target].find((f) => existsSync(f));
            if (!source) throw new Error(`${file} imports ${fileName}, which does not exist`);
            visit(source);
          } else if (!fileName.startsWith('node:') && !isBuiltin(fileName)) {
            packages.set(fileName.startsWith('@') ? fileName.split('/').slice(0, 2).join('/') : fileName.split('/')[0]!, relative(REPO_ROOT, file));
          }
        }
      };
      for (const e of entries) visit(join(REPO_ROOT, e));
      expect(seen.size).toBeGreaterThan(40);
      const missing = [...packages].filter(([name]) => !(name in pkg.dependencies)).map(([name, file]) => `${name} (${file})`);
      expect(missing, 'imported by the services but not a production dependency (npm prune --omit=dev drops it)').toEqual([]);
      // The Dockerfile deletes onnxruntime-web (the VAD reads only vad-web's model file).
      expect(packages.has('onnxruntime-web')).toBe(false);
      expect(packages.has('@ricky0123/vad-web')).toBe(false);
      // Every file the services import is compiled into the image.
      const build = parseYaml(read('tsconfig.build.json')) as { include: string[] };
      const outside = [...seen].map((f) => relative(REPO_ROOT, f)).filter((f) => !build.include.some((i) => f === i || f.startsWith(`${i}/`)));
      expect(outside).toEqual([]);
    });

    it('the build context carries the sources and lockfile but no voices, modules, secrets or build output', () => {
      const ignore = dockerignore({ ignorecase: false }).add(read('.dockerignore').split('\n'));
      const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: REPO_ROOT, encoding: 'utf8' }).split('\n').filter(Boolean);
      const sent = files.filter((f) => !ignore.ignores(f));
      for (const needed of ['package.json', 'package-lock.json', '.npmrc', 'tsconfig.json', 'tsconfig.build.json', 'scripts/healthcheck.mjs', 'configs/worker.yaml', 'configs/orchestrator.docker.yaml', 'workers/tts/main.ts', 'orchestrator/main.ts']) {
        expect(sent, needed).toContain(needed);
      }
      for (const f of ['voicepacks/piper/x/x.onnx', 'node_modules/x/index.js', 'vendor/espeak-ng/lib.so', '.env', 'dist/server/x.js', 'clients/web/dist/index.html', '.git/HEAD']) {
        expect(ignore.ignores(f), f).toBe(true);
      }
      // tsconfig.build.json compiles directories that must all be in the context.
      const build = parseYaml(read('tsconfig.build.json')) as { include: string[] };
      for (const dir of build.include) expect(sent.some((f) => f === dir || f.startsWith(`${dir}/`)), dir).toBe(true);
    });
  });
});
