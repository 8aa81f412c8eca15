import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { RoomServiceClient } from 'livekit-server-sdk';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findLiveKitServer } from '../helpers/livekit-server.js';
import { loadCompose, readEnvExample, type ComposeFile, type NativeMapping } from '../support/compose.js';
import { waitFor } from '../helpers/poll.js';
import { freePort } from '../helpers/ports.js';
import { allocatePorts, buildServerInto, CADDY_ADMIN_PORT, nativeCaddyCommand, nativeLivekitConfig, startServices, type RunningService } from '../support/native-stack.js';
import { REAL_VOICE, requireRealVoice } from '../support/orchestrator-stack.js';

/**
 * The Compose stack without Docker: redis, livekit, tts0, tts1 and the orchestrator started
 * natively from docker-compose.yml's own commands and environment (tests/support/native-stack.ts),
 * the Node services from `npm run build:server`'s output as the images run them. Then every
 * compose health check, discovery of both workers through Redis (SPEC §7), speech through the
 * whole chain, sessions spread over both workers, and failover when the worker speaking is killed.
 */

const SERVICES = ['redis', 'livekit', 'tts0', 'tts1', 'orchestrator', 'caddy'] as const;
const WORKERS = ['tts0', 'tts1'] as const;
// The .env a user would write for this run: the CI voice, quieter logs.
const DOTENV = { ...readEnvExample(), DEFAULT_MODEL: REAL_VOICE, LOG_LEVEL: 'warn' };

interface Msg {
  type: string;
  state?: string;
  sequence?: number;
  pcm?: string;
  sample_rate?: number;
  frame_ms?: number;
  code?: string;
  message?: string;
}

/** A WebSocket session (SPEC §5) that records every message. */
class Session {
  readonly messages: Msg[] = [];
  private readonly listeners = new Set<(m: Msg) => void>();
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d, binary) => {
      if (binary) return;
      const m = JSON.parse(d.toString()) as Msg;
      this.messages.push(m);
      for (const l of this.listeners) l(m);
    });
  }

  static async open(url: string, options: WebSocket.ClientOptions = {}): Promise<Session> {
    const ws = new WebSocket(url, options);
    const s = new Session(ws);
    await s.next((m) => m.type === 'state' && m.state === 'LISTENING');
    return s;
  }

  /** Resolves with the first message (already received or future) matching `pred`. */
  next(pred: (m: Msg) => boolean, timeoutMs = 20_000): Promise<Msg> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${timeoutMs} ms; got ${this.messages.map((m) => m.type).join(',')}`)), timeoutMs);
      const l = (m: Msg) => {
        if (!pred(m)) return;
        clearTimeout(timer);
        this.listeners.delete(l);
        resolve(m);
      };
      this.listeners.add(l);
    });
  }

  on(l: (m: Msg) => void): void {
    this.listeners.add(l);
  }

  say(text: string): void {
    this.ws.send(JSON.stringify({ type: 'text', text, is_final: true }));
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise((r) => this.ws.once('close', r));
    this.ws.close();
    await closed;
  }
}

/** GET over HTTPS trusting `ca` (fetch cannot take a CA without an extra package). */
function httpsGet(url: string, ca?: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ...(ca && { ca }), timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
  });
}

const rms = (pcm: Buffer): number => {
  let sum = 0;
  for (let i = 0; i + 1 < pcm.length; i += 2) sum += pcm.readInt16LE(i) ** 2;
  return Math.sqrt(sum / (pcm.length / 2));
};

describe('the Compose stack, run natively from docker-compose.yml', () => {
  let compose: ComposeFile;
  let mapping: NativeMapping;
  let dir: string;
  let livekitBin: string;
  let caddyData: string;
  const running = new Map<string, RunningService>();
  const stops: (() => Promise<void>)[] = [];
  const sessions: Session[] = [];

  const port = (service: string, containerPort: number) => mapping.ports[service]![containerPort]!;
  const orchHttp = () => `http://127.0.0.1:${port('orchestrator', 8081)}`;
  const orchWs = () => `ws://127.0.0.1:${port('orchestrator', 8080)}`;
  const workerHealth = async (w: string) =>
    (await (await fetch(`http://127.0.0.1:${port(w, 9090)}/health`)).json()) as { active_sessions: number; models_loaded: string[]; redis: string; name: string };
  const activeSessions = async (): Promise<Record<string, number>> =>
    Object.fromEntries(await Promise.all(WORKERS.map(async (w) => [w, (await workerHealth(w)).active_sessions] as const)));
  /** The workers' session counts once they add up to `total`. */
  const sessionsOnWorkers = (total: number, what: string) =>
    waitFor(async () => {
      const act = await activeSessions();
      return Object.values(act).reduce((x, y) => x + y, 0) === total ? act : undefined;
    }, what);
  const open = async () => {
    const s = await Session.open(orchWs());
    sessions.push(s);
    return s;
  };

  beforeAll(async () => {
    requireRealVoice();
    livekitBin = findLiveKitServer();
    compose = loadCompose(DOTENV);
    dir = mkdtempSync(join(tmpdir(), 'compose-stack-'));
    const appDir = join(dir, 'app');
    const ports = await allocatePorts(compose, SERVICES);
    mapping = { compose, workDir: appDir, ports };
    const lk = await nativeLivekitConfig(compose, ports, join(dir, 'livekit'));
    mapping.files = { [lk.containerPath]: lk.hostPath };
    ports.caddy![CADDY_ADMIN_PORT] = await freePort();
    caddyData = join(dir, 'caddy-data');
    const options = {
      mapping,
      // The images' own entrypoints: the LiveKit server binary, and Caddy running the Caddyfile
      // (as `caddy adapt` reads it, ports mapped).
      entrypoints: { livekit: [livekitBin], caddy: await nativeCaddyCommand(compose, ports, join(dir, 'caddy')) },
      extraEnv: {
        // The address LiveKit advertises to WebRTC peers: this machine (compose leaves NODE_IP to .env).
        livekit: { NODE_IP: '127.0.0.1' },
        // Caddy's /data and /config volumes: its local CA and certificates.
        caddy: { XDG_DATA_HOME: caddyData, XDG_CONFIG_HOME: join(dir, 'caddy-config') },
      },
    };
    // Redis and LiveKit start while the services are compiled (as images would already be built).
    const [infra] = await Promise.all([startServices(['redis', 'livekit'], options), buildServerInto(appDir)]);
    stops.push(infra.stop);
    for (const [n, s] of infra.services) running.set(n, s);
    const app = await startServices(['tts0', 'tts1', 'orchestrator', 'caddy'], options);
    stops.push(app.stop);
    for (const [n, s] of app.services) running.set(n, s);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(sessions.map((s) => s.close().catch(() => undefined)));
    for (const stop of stops.reverse()) await stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('every service passes its own compose health check', async () => {
    for (const name of SERVICES) {
      const r = await running.get(name)!.healthcheck();
      expect(r.code, `${name}: ${r.output}`).toBe(0);
    }
    for (const w of WORKERS) {
      const h = await workerHealth(w);
      expect(h).toMatchObject({ name: w, models_loaded: [REAL_VOICE], redis: 'connected' });
    }
    const ready = (await (await fetch(`${orchHttp()}/ready`)).json()) as { ready: boolean };
    expect(ready.ready).toBe(true);
  });

  it('runs the LiveKit release the compose image names', () => {
    const version = /version (\d+\.\d+\.\d+)/.exec(execFileSync(livekitBin, ['--version'], { encoding: 'utf8' }))?.[1];
    expect(compose.services.livekit!.image).toBe(`livekit/livekit-server:v${version}`);
  });

  it('both workers register in Redis as SPEC §7 says, and the orchestrator knows both', async () => {
    const redis = new Redis(port('redis', 6379), '127.0.0.1');
    try {
      const keys = (await redis.keys('worker:*')).sort();
      expect(keys).toEqual(['worker:tts0', 'worker:tts1']);
      for (const w of WORKERS) {
        const record = JSON.parse((await redis.get(`worker:${w}`))!) as Record<string, unknown>;
        expect(record).toMatchObject({
          name: w,
          addr: `grpc://127.0.0.1:${port(w, 7001)}`,
          capabilities: { streaming: true, languages: ['en_US'], cpu_ok: true, max_concurrent_sessions: expect.any(Number) },
          resident_models: [REAL_VOICE],
          default_model: REAL_VOICE,
          metrics: { active_sessions: expect.any(Number) },
        });
        expect(record.metrics).toHaveProperty('rtf');
        const ttl = await redis.ttl(`worker:${w}`);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(30);
      }
    } finally {
      redis.disconnect();
    }
    const ready = (await (await fetch(`${orchHttp()}/ready`)).json()) as { workers: string[] };
    expect(ready.workers.sort()).toEqual(WORKERS.map((w) => `grpc://127.0.0.1:${port(w, 7001)}`).sort());
  });

  it('LiveKit takes the key pair the orchestrator has, and the token endpoint answers with an agent in the room', async () => {
    const env = compose.services.orchestrator!.environment as Record<string, string>;
    const lkUrl = `http://127.0.0.1:${port('livekit', 7880)}`;
    const rooms = new RoomServiceClient(lkUrl, env.LIVEKIT_API_KEY, env.LIVEKIT_API_SECRET);
    await expect(rooms.listRooms()).resolves.toBeInstanceOf(Array);
    // A pair the server was not given is refused, so the pass above means the pairs agree.
    await expect(new RoomServiceClient(lkUrl, env.LIVEKIT_API_KEY, 'not-the-secret-'.repeat(3)).listRooms()).rejects.toThrow();
    const res = await fetch(`${orchHttp()}/api/livekit/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ room: 'compose-stack' }) });
    const body = (await res.json()) as { url: string; token: string; room: string };
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.url).toBe(env.LIVEKIT_PUBLIC_URL);
    expect(body.room).toBe('compose-stack');
    const participants = await rooms.listParticipants('compose-stack');
    expect(participants.length).toBeGreaterThan(0);
  });

  it('Caddy: HTTPS with its local CA for the web origin and LiveKit, HTTP redirected, sessions at wss://…/ws', async () => {
    const ca = readFileSync(join(caddyData, 'caddy', 'pki', 'authorities', 'local', 'root.crt'));
    const site = compose.services.caddy!.environment!.SITE_HOST as string;
    const [httpPort, webPort, livekitPort] = [80, 8443, 8444].map((p) => port('caddy', p));
    // The certificate is issued in the background right after start: the first handshake may wait for it.
    const health = await waitFor(() => httpsGet(`https://${site}:${webPort}/health`, ca).catch(() => undefined), 'HTTPS through Caddy');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    expect(await httpsGet(`https://${site}:${livekitPort}/`, ca)).toMatchObject({ status: 200, body: 'OK' });
    // Without Caddy's root the certificate is refused: it really is Caddy's own CA.
    await expect(httpsGet(`https://${site}:${webPort}/health`)).rejects.toThrow();
    // HTTP → HTTPS on the web port, for the site's name and any other (an IP address).
    for (const host of [site, '127.0.0.1']) {
      const redirect = await fetch(`http://${host}:${httpPort}/live.html?x=1`, { redirect: 'manual' });
      expect(redirect.status, host).toBe(301);
      expect(redirect.headers.get('location'), host).toBe(`https://${host}:${webPort}/live.html?x=1`);
    }
    // The page served through Caddy is told to open its WebSocket on its own origin's /ws.
    const clientConfig = await httpsGet(`https://${site}:${webPort}/api/client-config`, ca);
    expect(JSON.parse(clientConfig.body)).toMatchObject({ ws: { url: '/ws' } });
    const s = await Session.open(`wss://${site}:${webPort}/ws`, { ca });
    sessions.push(s);
    s.say('Through the proxy.');
    await s.next((m) => m.type === 'done');
    expect(s.messages.filter((m) => m.type === 'audio').length).toBeGreaterThan(20);
    await s.close();
  });

  it('speaks through the whole chain: WebSocket client → orchestrator → worker → 20 ms audio frames', async () => {
    const s = await open();
    s.say('Hello from the compose stack.');
    await s.next((m) => m.type === 'done');
    const audio = s.messages.filter((m) => m.type === 'audio');
    expect(audio.length).toBeGreaterThan(40);
    expect(audio.map((m) => m.sequence)).toEqual(audio.map((_, i) => i + 1));
    for (const m of audio) {
      expect(m.sample_rate).toBe(48_000);
      expect(Buffer.from(m.pcm!, 'base64').length).toBe(1920);
    }
    const loud = audio.map((m) => rms(Buffer.from(m.pcm!, 'base64'))).filter((r) => r > 300).length;
    expect(loud).toBeGreaterThan(audio.length / 3);
    await s.close();
  });

  let speaking: { session: Session; worker: string; other: string } | undefined;

  it('spreads sessions across both workers', async () => {
    await sessionsOnWorkers(0, 'earlier sessions to end');
    const a = await open();
    const afterA = await sessionsOnWorkers(1, 'session A on a worker');
    const first = WORKERS.find((w) => afterA[w] === 1)!;
    await open();
    const afterB = await sessionsOnWorkers(2, 'session B on a worker');
    expect(afterB).toEqual({ tts0: 1, tts1: 1 });
    speaking = { session: a, worker: first, other: WORKERS.find((w) => w !== first)! };
  });

  it('fails over when the worker speaking is killed (SIGKILL) mid-utterance', async () => {
    if (!speaking) throw new Error('needs the sessions from the previous test');
    const { session, worker, other } = speaking;
    const victim = running.get(worker)!;
    let killedAt = -1;
    session.on((m) => {
      if (m.type === 'audio' && m.sequence === 25 && killedAt < 0) {
        killedAt = session.messages.length;
        victim.child.kill('SIGKILL');
      }
    });
    const start = session.messages.length;
    session.say('The museum opens at nine and the guided tour starts an hour later. After the storm passed, the children ran outside to splash in the puddles.');
    await session.next((m) => m.type === 'done' && session.messages.indexOf(m) >= start, 30_000);
    const msgs = session.messages.slice(start);
    expect(killedAt).toBeGreaterThan(0);
    const notice = msgs.find((m) => m.type === 'error');
    expect(notice?.code).toBe('worker_error');
    expect(notice?.message).toContain(`continuing on grpc://127.0.0.1:${port(other, 7001)}`);
    const audio = msgs.filter((m) => m.type === 'audio');
    expect(audio.map((m) => m.sequence)).toEqual(audio.map((_, i) => i + 1));
    const after = session.messages.slice(killedAt).filter((m) => m.type === 'audio').length;
    expect(after).toBeGreaterThan(100);
    // No return to LISTENING before `done`: the session kept speaking through the failover.
    const doneAt = session.messages.findIndex((m, i) => i >= killedAt && m.type === 'done');
    expect(session.messages.slice(killedAt, doneAt).filter((m) => m.type === 'state')).toEqual([]);
    // The dead worker's compose health check now fails; the survivor's still passes.
    await victim.exited;
    expect((await victim.healthcheck()).code).not.toBe(0);
    expect((await running.get(other)!.healthcheck()).code).toBe(0);
  });

  it('a new session after the crash speaks on the surviving worker', async () => {
    if (!speaking) throw new Error('needs the failover test');
    const s = await open();
    s.say('Still here.');
    await s.next((m) => m.type === 'done');
    expect(s.messages.filter((m) => m.type === 'error')).toEqual([]);
    expect(s.messages.filter((m) => m.type === 'audio').length).toBeGreaterThan(20);
    expect((await workerHealth(speaking.other)).active_sessions).toBeGreaterThanOrEqual(1);
  });
});
