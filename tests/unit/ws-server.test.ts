/**
 * WebSocket transport: a real `ws` server on port 0 and real `ws` clients, with a fake session
 * factory that records what reaches each session. Every wait is on an event (message, close),
 * never on a sleep.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startWsServer } from '../../transports/websocket/server.js';
import type { BackpressureInfo, ClientConnection, SessionHandle, WsServer, WsServerOptions } from '../../transports/websocket/server.js';
import type { ClientMessage } from '../../transports/websocket/protocol.js';

interface FakeSession {
  conn: ClientConnection;
  messages: ClientMessage[];
  audio: Buffer[];
  closed: boolean;
  /** Resolves when the transport has called onClose. */
  whenClosed: Promise<void>;
  backpressure: BackpressureInfo[];
}

type Received = { kind: 'json'; value: Record<string, unknown> } | { kind: 'binary'; data: Buffer };

/** A `ws` client that records everything it receives and lets a test await the next match. */
class TestClient {
  readonly received: Received[] = [];
  private cursor = 0;
  private waiters: Array<() => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      const buf = Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]);
      this.received.push(isBinary ? { kind: 'binary', data: buf } : { kind: 'json', value: JSON.parse(buf.toString('utf8')) as Record<string, unknown> });
      for (const wake of this.waiters.splice(0)) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  static async connect(url: string): Promise<TestClient> {
    const ws = new WebSocket(url);
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return client;
  }

  /** The next received item (after the ones already taken) that matches. */
  async next(match: (r: Received) => boolean = () => true): Promise<Received> {
    for (;;) {
      while (this.cursor < this.received.length) {
        const item = this.received[this.cursor++] as Received;
        if (match(item)) return item;
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async nextJson(type?: string): Promise<Record<string, unknown>> {
    const item = await this.next((r) => r.kind === 'json' && (type === undefined || r.value.type === type));
    return (item as Extract<Received, { kind: 'json' }>).value;
  }

  send(value: unknown): void {
    this.ws.send(typeof value === 'string' ? value : JSON.stringify(value));
  }
}

const servers: WsServer[] = [];
const clients: TestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(overrides: Partial<WsServerOptions> & { behaviour?: (s: FakeSession) => Partial<SessionHandle> } = {}) {
  const sessions: FakeSession[] = [];
  const { behaviour, ...rest } = overrides;
  const server = await startWsServer({
    port: 0,
    host: '127.0.0.1',
    heartbeatMs: 0,
    sessionFactory: (conn) => {
      let markClosed!: () => void;
      const whenClosed = new Promise<void>((resolve) => (markClosed = resolve));
      const session: FakeSession = { conn, messages: [], audio: [], closed: false, whenClosed, backpressure: [] };
      sessions.push(session);
      const custom = behaviour?.(session) ?? {};
      return {
        onMessage: (m) => void session.messages.push(m),
        onAudio: (pcm) => void session.audio.push(pcm),
        onBackpressure: (info) => void session.backpressure.push(info),
        ...custom,
        onClose: () => {
          custom.onClose?.();
          session.closed = true;
          markClosed();
        },
      };
    },
    ...rest,
  });
  servers.push(server);
  const connect = async (): Promise<TestClient> => {
    const client = await TestClient.connect(server.url);
    clients.push(client);
    return client;
  };
  return { server, sessions, connect };
}

/** Sends a valid text and waits until the session has it (proves the connection still works). */
async function roundTrip(client: TestClient, session: FakeSession, text: string): Promise<void> {
  // The session echoes a `done` for each text, so the client can await it.
  client.send({ type: 'text', text });
  await client.nextJson('done');
  expect(session.messages.at(-1)).toEqual({ type: 'text', text, is_final: true });
}

const echoDone = (s: FakeSession): Partial<SessionHandle> => ({
  onMessage: (m) => {
    s.messages.push(m);
    if (m.type === 'text') s.conn.send({ type: 'done' });
  },
});

describe('WebSocket server', () => {
  it('sends session_start with a generated id on connect', async () => {
    const { connect, sessions, server } = await setup();
    const client = await connect();
    const start = await client.nextJson();
    expect(start.type).toBe('session_start');
    expect(start.session_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(sessions).toHaveLength(1);
    expect(sessions[0]?.conn.sessionId).toBe(start.session_id);
    expect(server.connections).toBe(1);
  });

  it('answers bad input with an error message and keeps the connection and session alive', async () => {
    const { connect, sessions } = await setup({ behaviour: echoDone, limits: { maxMessageBytes: 4096, maxAudioBytes: 2048 } });
    const client = await connect();
    await client.nextJson('session_start');
    const session = sessions[0] as FakeSession;

    const cases: Array<[string | Buffer, string]> = [
      ['{"type":"text",', 'invalid_json'],
      [JSON.stringify({ type: 'text', text: 42 }), 'invalid_message'],
      [JSON.stringify({ type: 'control', command: 'JUMP' }), 'invalid_message'],
      [JSON.stringify({ type: 'teleport' }), 'unknown_type'],
      [Buffer.from([1, 2, 3]), 'invalid_audio'],
      [JSON.stringify({ type: 'text', text: 'x'.repeat(10_000) }), 'message_too_large'],
      [Buffer.alloc(4096), 'message_too_large'],
    ];
    for (const [data, code] of cases) {
      client.ws.send(data, { binary: Buffer.isBuffer(data) });
      const error = await client.nextJson('error');
      expect(error.code).toBe(code);
      expect(typeof error.message).toBe('string');
      await roundTrip(client, session, `still alive after ${code}`);
    }
    expect(session.closed).toBe(false);
    expect(session.audio).toEqual([]);
  });

  it('forwards valid audio and control messages to the session', async () => {
    const { connect, sessions } = await setup({ behaviour: echoDone });
    const client = await connect();
    await client.nextJson('session_start');
    const pcm = Buffer.alloc(640, 3);
    client.ws.send(pcm);
    client.send({ type: 'control', command: 'PAUSE' });
    await roundTrip(client, sessions[0] as FakeSession, 'hi');
    expect(sessions[0]?.audio).toEqual([pcm]);
    expect(sessions[0]?.messages[0]).toEqual({ type: 'control', command: 'PAUSE' });
  });

  it('turns a throwing or rejecting handler into internal_error and lives on', async () => {
    const { connect, sessions } = await setup({
      behaviour: (s) => ({
        onMessage: (m) => {
          if (m.type === 'text' && m.text === 'throw') throw new Error('sync boom');
          if (m.type === 'text' && m.text === 'reject') return Promise.reject(new Error('async boom'));
          echoDone(s).onMessage?.(m);
        },
        onAudio: () => {
          throw new Error('audio boom');
        },
      }),
    });
    const client = await connect();
    await client.nextJson('session_start');
    const session = sessions[0] as FakeSession;
    for (const trigger of [() => client.send({ type: 'text', text: 'throw' }), () => client.send({ type: 'text', text: 'reject' }), () => client.ws.send(Buffer.alloc(4))]) {
      trigger();
      const error = await client.nextJson('error');
      expect(error.code).toBe('internal_error');
      await roundTrip(client, session, 'ok');
    }
  });

  it('keeps two clients isolated', async () => {
    const { connect, sessions } = await setup({ behaviour: echoDone });
    const a = await connect();
    const b = await connect();
    const idA = (await a.nextJson('session_start')).session_id;
    const idB = (await b.nextJson('session_start')).session_id;
    expect(idA).not.toBe(idB);
    const [sa, sb] = sessions.map((s) => s) as [FakeSession, FakeSession];
    const sessionA = sa.conn.sessionId === idA ? sa : sb;
    const sessionB = sessionA === sa ? sb : sa;

    a.send('not json');
    await a.nextJson('error');
    await roundTrip(a, sessionA, 'from a');
    await roundTrip(b, sessionB, 'from b');
    expect(sessionA.messages).toEqual([{ type: 'text', text: 'from a', is_final: true }]);
    expect(sessionB.messages).toEqual([{ type: 'text', text: 'from b', is_final: true }]);
    // B never saw A's error.
    expect(b.received.filter((r) => r.kind === 'json' && r.value.type === 'error')).toEqual([]);

    const pcm = Buffer.alloc(1920, 9);
    sessionA.conn.sendAudio({ pcm, sequence: 1 });
    sessionA.conn.send({ type: 'done' });
    const audio = await a.nextJson('audio');
    expect(Buffer.from(audio.pcm as string, 'base64').equals(pcm)).toBe(true);
    await a.nextJson('done');
    await roundTrip(b, sessionB, 'b again');
    expect(b.received.some((r) => r.kind === 'json' && r.value.type === 'audio')).toBe(false);

    a.ws.close();
    await a.closed;
    await roundTrip(b, sessionB, 'b after a left');
    expect(sessionB.closed).toBe(false);
  });

  it('applies a client session_start: adopted session_id, binary audio format; refuses an id in use', async () => {
    const { connect, sessions } = await setup({ behaviour: echoDone });
    const a = await connect();
    await a.nextJson('session_start');
    a.send({ type: 'session_start', session_id: 'my-session', audio_format: 'binary', voice: 'v1' });
    expect(await a.nextJson('session_start')).toEqual({ type: 'session_start', session_id: 'my-session' });
    const session = sessions[0] as FakeSession;
    await roundTrip(a, session, 'x');
    expect(session.conn.sessionId).toBe('my-session');
    expect(session.messages[0]).toEqual({ type: 'session_start', session_id: 'my-session', audio_format: 'binary', voice: 'v1' });

    const pcm = Buffer.alloc(1920, 5);
    session.conn.sendAudio({ pcm, sequence: 1 });
    const frame = await a.next((r) => r.kind === 'binary');
    expect(frame.kind === 'binary' && frame.data.equals(pcm)).toBe(true);

    const b = await connect();
    const original = (await b.nextJson('session_start')).session_id;
    b.send({ type: 'session_start', session_id: 'my-session' });
    expect((await b.nextJson('error')).code).toBe('session_id_in_use');
    expect(await b.nextJson('session_start')).toEqual({ type: 'session_start', session_id: original });
  });

  it('sends session_end to every client on shutdown and closes every session', async () => {
    const { connect, sessions, server } = await setup();
    const a = await connect();
    const b = await connect();
    const idA = (await a.nextJson('session_start')).session_id;
    const idB = (await b.nextJson('session_start')).session_id;
    await server.close();
    expect(await a.nextJson('session_end')).toEqual({ type: 'session_end', session_id: idA, reason: 'server_shutdown' });
    expect(await b.nextJson('session_end')).toEqual({ type: 'session_end', session_id: idB, reason: 'server_shutdown' });
    expect((await a.closed).code).toBe(1001);
    expect((await b.closed).code).toBe(1001);
    expect(sessions.every((s) => s.closed)).toBe(true);
    expect(server.connections).toBe(0);
  });

  it('conn.close(reason) ends one session with session_end; the client closing calls onClose once', async () => {
    let closes = 0;
    const { connect, sessions } = await setup({
      behaviour: () => ({
        onClose: () => {
          closes += 1;
        },
      }),
    });
    const a = await connect();
    const id = (await a.nextJson('session_start')).session_id;
    sessions[0]?.conn.close('idle_timeout');
    expect(await a.nextJson('session_end')).toEqual({ type: 'session_end', session_id: id, reason: 'idle_timeout' });
    expect(await a.closed).toEqual({ code: 1000, reason: 'idle_timeout' });
    const b = await connect();
    await b.nextJson('session_start');
    b.ws.close();
    await b.closed;
    await sessions[0]?.whenClosed;
    await sessions[1]?.whenClosed;
    expect(closes).toBe(2);
    expect(sessions[0]?.conn.isOpen).toBe(false);
    expect(sessions[0]?.conn.send({ type: 'done' })).toBe(false);
  });

  it('reports backpressure when the client stops reading', async () => {
    const reported: BackpressureInfo[] = [];
    const { connect, sessions } = await setup({ backpressureBytes: 256 * 1024, onBackpressure: (i) => reported.push(i) });
    const client = await connect();
    await client.nextJson('session_start');
    // Stop reading on the client: the kernel buffers fill, then ws buffers in user space.
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const session = sessions[0] as FakeSession;
    const pcm = Buffer.alloc(1920);
    for (let i = 0; i < 50_000 && reported.length === 0; i++) session.conn.sendAudio({ pcm, sequence: i });
    expect(reported).toHaveLength(1);
    expect(reported[0]?.bufferedAmount).toBeGreaterThan(256 * 1024);
    expect(session.backpressure).toHaveLength(1);
    expect(session.conn.bufferedAmount).toBeGreaterThan(0);
  });

  it('terminates a peer that stops answering pings', async () => {
    const { connect, sessions, server } = await setup({ heartbeatMs: 50 });
    const client = await connect();
    await client.nextJson('session_start');
    // A dead peer: its socket stops reading, so no pong ever comes back.
    (client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await sessions[0]?.whenClosed;
    expect(sessions[0]?.closed).toBe(true);
    expect(server.connections).toBe(0);
  });
});
