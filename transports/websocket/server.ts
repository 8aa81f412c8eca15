/**
 * WebSocket transport (SPEC §5): one session per connection, created by an injected factory.
 *
 * Lifecycle of a connection
 * 1. On connect the server generates a session id (`randomUUID()`), creates the session with
 *    `sessionFactory(conn)` and sends `{"type":"session_start","session_id":...}`.
 * 2. A client `session_start` message (optional, any time) may set `audio_format` (applies to
 *    the next audio frame) and `session_id`: the connection adopts that id unless another live
 *    connection uses it (then `error` `session_id_in_use` and the old id stays). The server
 *    confirms with a new `session_start` carrying the id in force, then hands the message to the
 *    session's `onMessage` (for `voice` etc.). `conn.sessionId` always reads the current id.
 * 3. Every frame goes through `parseClientMessage`; bad input gets an `error` message and the
 *    connection and session live on. Valid JSON messages go to `onMessage`, binary audio to
 *    `onAudio`. A handler that throws (or returns a rejected promise) becomes an
 *    `internal_error` message; nothing escapes the ws event handlers.
 * 4. Frames above `maxPayload` (default 1 MiB, far above the protocol limits, so over-limit
 *    messages normally get `message_too_large` and the session survives) are refused by `ws`
 *    itself, which closes the connection with 1009.
 * 5. Heartbeat: every `heartbeatMs` each connection that has not answered the previous ping
 *    (or sent anything) is terminated as dead; the others are pinged.
 * 6. Backpressure: after each send, `ws.bufferedAmount` above `backpressureBytes` is reported
 *    once per episode (`onBackpressure` on the server options and on the session handle); the
 *    episode ends once the buffer drops below half the threshold. Nothing is dropped here: the
 *    session decides (e.g. hold its pacer).
 * 7. `close(reason)` sends `session_end` with that reason (default `server_shutdown`) to every
 *    client, closes with 1001, waits up to `closeTimeoutMs` for the clients, then terminates.
 *    `conn.close(reason)` does the same for one connection (code 1000). `onClose` runs exactly
 *    once per session, whoever closed.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import type { RawData, WebSocket } from 'ws';
import {
  encodeAudioFrame,
  errorMessage,
  parseClientMessage,
  protocolErrorMessage,
  resolveLimits,
  serializeServerMessage,
  sessionEndMessage,
  sessionStartMessage,
} from './protocol.js';
import type { AudioFormat, ProtocolLimits, ServerMessage } from './protocol.js';
import type {
  BackpressureInfo,
  ClientConnection as BaseClientConnection,
  SessionFactory as BaseSessionFactory,
  SessionHandle,
} from '../session-transport.js';

export type { BackpressureInfo, SessionHandle } from '../session-transport.js';

/** A WebSocket client as its session sees it: the shared seam plus the socket's own details. */
export interface ClientConnection extends BaseClientConnection {
  /** The session id in force (generated on connect, or adopted from a client session_start). */
  readonly sessionId: string;
  /** `json` (default) or `binary`, as the client asked. */
  readonly audioFormat: AudioFormat;
  /** Bytes queued in the socket and not yet written. */
  readonly bufferedAmount: number;
}

export type SessionFactory = BaseSessionFactory<ClientConnection>;

export interface WsServerLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WsServerOptions {
  /** Port to listen on; 0 picks a free one. (The orchestrator passes SPEC §2's 8080.) */
  port: number;
  host?: string;
  sessionFactory: SessionFactory;
  limits?: Partial<ProtocolLimits>;
  /** Hard frame limit enforced by `ws` (closes with 1009). Default 1 MiB. */
  maxPayload?: number;
  /** Ping interval; a peer that misses one interval is terminated. Default 15 s; 0 disables. */
  heartbeatMs?: number;
  /** `bufferedAmount` above this is reported as backpressure. Default 1 MiB. */
  backpressureBytes?: number;
  onBackpressure?: (info: BackpressureInfo) => void;
  /** How long `close()` waits for clients to acknowledge before terminating. Default 2 s. */
  closeTimeoutMs?: number;
  logger?: WsServerLogger;
}

export interface WsServer {
  readonly port: number;
  readonly url: string;
  /** Live connections. */
  readonly connections: number;
  close(reason?: string): Promise<void>;
}

const silentLogger: WsServerLogger = { warn: () => undefined, error: () => undefined };

interface ConnState {
  ws: WebSocket;
  conn: ClientConnection;
  sessionId: string;
  audioFormat: AudioFormat;
  handle: SessionHandle | null;
  alive: boolean;
  closed: boolean;
  congested: boolean;
}

export async function startWsServer(options: WsServerOptions): Promise<WsServer> {
  const limits = resolveLimits(options.limits);
  const maxPayload = options.maxPayload ?? 1024 * 1024;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const backpressureBytes = options.backpressureBytes ?? 1024 * 1024;
  const closeTimeoutMs = options.closeTimeoutMs ?? 2_000;
  const log = options.logger ?? silentLogger;
  const states = new Set<ConnState>();
  const sessionIds = new Map<string, ConnState>();
  let shuttingDown = false;

  const wss = new WebSocketServer({ port: options.port, host: options.host, maxPayload, clientTracking: false });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    wss.once('error', onError);
    wss.once('listening', () => {
      wss.off('error', onError);
      resolve();
    });
  });
  wss.on('error', (error) => log.error({ err: error }, 'websocket server error'));

  const checkBackpressure = (state: ConnState): void => {
    const buffered = state.ws.bufferedAmount;
    if (!state.congested && buffered > backpressureBytes) {
      state.congested = true;
      const info: BackpressureInfo = { sessionId: state.conn.sessionId, bufferedAmount: buffered, threshold: backpressureBytes };
      log.warn(info, 'websocket backpressure');
      safely(state, 'onBackpressure', () => {
        options.onBackpressure?.(info);
        state.handle?.onBackpressure?.(info);
      });
    } else if (state.congested && buffered < backpressureBytes / 2) {
      state.congested = false;
    }
  };

  const rawSend = (state: ConnState, data: string | Buffer): boolean => {
    if (state.closed || state.ws.readyState !== state.ws.OPEN) return false;
    try {
      state.ws.send(data, { binary: typeof data !== 'string' });
    } catch (error) {
      log.warn({ err: error, sessionId: state.conn.sessionId }, 'websocket send failed');
      return false;
    }
    checkBackpressure(state);
    return true;
  };

  const sendError = (state: ConnState, message: ServerMessage): void => {
    rawSend(state, serializeServerMessage(message));
  };

  /** Runs a session callback; throws and rejections become `internal_error` messages. */
  function safely(state: ConnState, what: string, fn: () => void | Promise<void>): void {
    const report = (error: unknown): void => {
      log.error({ err: error, sessionId: state.conn.sessionId }, `session ${what} failed`);
      sendError(state, errorMessage('internal_error', `internal error while handling ${what}`));
    };
    try {
      const result = fn();
      if (result && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).then(undefined, report);
    } catch (error) {
      report(error);
    }
  }

  const endState = (state: ConnState, reason: string, code: number): void => {
    if (state.closed) return;
    rawSend(state, serializeServerMessage(sessionEndMessage(state.conn.sessionId, reason)));
    try {
      state.ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
    } catch {
      state.ws.terminate();
    }
  };

  const finish = (state: ConnState): void => {
    if (state.closed) return;
    state.closed = true;
    states.delete(state);
    if (sessionIds.get(state.conn.sessionId) === state) sessionIds.delete(state.conn.sessionId);
    const handle = state.handle;
    if (handle) safelyNoReply(() => handle.onClose());
  };

  const safelyNoReply = (fn: () => void): void => {
    try {
      fn();
    } catch (error) {
      log.error({ err: error }, 'session onClose failed');
    }
  };

  const handleFrame = (state: ConnState, data: RawData, isBinary: boolean): void => {
    state.alive = true;
    const parsed = parseClientMessage(data, isBinary, limits);
    const handle = state.handle;
    if (!handle) return;
    switch (parsed.kind) {
      case 'error':
        sendError(state, protocolErrorMessage(parsed.error));
        return;
      case 'audio':
        safely(state, 'audio', () => handle.onAudio(parsed.pcm));
        return;
      case 'message': {
        const message = parsed.message;
        if (message.type === 'session_start') {
          if (message.audio_format) state.audioFormat = message.audio_format;
          const wanted = message.session_id;
          if (wanted !== undefined && wanted !== state.conn.sessionId) {
            const owner = sessionIds.get(wanted);
            if (owner && owner !== state && !owner.closed) {
              sendError(state, errorMessage('session_id_in_use', `session_id "${wanted}" is in use by another connection`));
            } else {
              sessionIds.delete(state.conn.sessionId);
              state.sessionId = wanted;
              sessionIds.set(wanted, state);
            }
          }
          rawSend(state, serializeServerMessage(sessionStartMessage(state.conn.sessionId)));
        }
        safely(state, message.type, () => handle.onMessage(message));
        return;
      }
    }
  };

  wss.on('connection', (ws) => {
    if (shuttingDown) {
      ws.close(1001, 'server_shutdown');
      return;
    }
    const conn: ClientConnection = {
      get sessionId() {
        return state.sessionId;
      },
      get audioFormat() {
        return state.audioFormat;
      },
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      get isOpen() {
        return !state.closed && ws.readyState === ws.OPEN;
      },
      send: (message) => rawSend(state, serializeServerMessage(message)),
      sendAudio: (frame) => rawSend(state, encodeAudioFrame(frame, state.audioFormat)),
      close: (reason) => endState(state, reason, 1000),
    };
    const state: ConnState = {
      ws,
      conn,
      sessionId: randomUUID(),
      audioFormat: 'json',
      handle: null,
      alive: true,
      closed: false,
      congested: false,
    };
    states.add(state);
    sessionIds.set(state.conn.sessionId, state);

    ws.on('pong', () => {
      state.alive = true;
    });
    ws.on('message', (data, isBinary) => {
      try {
        handleFrame(state, data, isBinary);
      } catch (error) {
        // Defensive: handleFrame is not expected to throw.
        log.error({ err: error }, 'websocket message handling failed');
        sendError(state, errorMessage('internal_error', 'internal error'));
      }
    });
    ws.on('close', () => finish(state));
    ws.on('error', (error) => {
      log.warn({ err: error, sessionId: state.conn.sessionId }, 'websocket connection error');
    });

    try {
      state.handle = options.sessionFactory(state.conn);
    } catch (error) {
      log.error({ err: error }, 'session factory failed');
      sendError(state, errorMessage('internal_error', 'could not create a session'));
      endState(state, 'internal_error', 1011);
      return;
    }
    rawSend(state, serializeServerMessage(sessionStartMessage(state.conn.sessionId)));
  });

  const heartbeat =
    heartbeatMs > 0
      ? setInterval(() => {
          for (const state of states) {
            if (!state.alive) {
              log.warn({ sessionId: state.conn.sessionId }, 'websocket peer missed a heartbeat; terminating');
              state.ws.terminate();
              continue;
            }
            state.alive = false;
            try {
              state.ws.ping();
            } catch {
              state.ws.terminate();
            }
          }
        }, heartbeatMs)
      : undefined;
  heartbeat?.unref();

  const address = wss.address() as AddressInfo;
  const host = options.host ?? 'localhost';

  return {
    port: address.port,
    url: `ws://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    get connections() {
      return states.size;
    },
    async close(reason = 'server_shutdown') {
      if (shuttingDown) return;
      shuttingDown = true;
      if (heartbeat) clearInterval(heartbeat);
      const open = [...states];
      const closedAll = Promise.all(
        open.map((state) => new Promise<void>((resolve) => (state.closed ? resolve() : state.ws.once('close', () => resolve())))),
      );
      for (const state of open) endState(state, reason, 1001);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closedAll, new Promise<void>((resolve) => (timer = setTimeout(resolve, closeTimeoutMs)))]);
      if (timer) clearTimeout(timer);
      for (const state of states) {
        state.ws.terminate();
        finish(state);
      }
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
