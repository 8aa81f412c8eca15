/**
 * A service that cannot listen because its port is taken gets one message naming the port, the
 * setting that moves it and the usual cause (another instance still running), instead of a
 * listen error or a gRPC bind stack trace.
 */

/** The port of an EADDRINUSE failure: Node's listen errors carry it; grpc-js only in its message. */
export function portInUse(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; port?: unknown; message?: unknown };
  if (e.code === 'EADDRINUSE' && typeof e.port === 'number') return e.port;
  const m = typeof e.message === 'string' ? /EADDRINUSE: address already in use \S*:(\d+)/.exec(e.message) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * The message for `err` when it is a port in use, else undefined. `settings` names, per port the
 * service listens on, the environment variable that sets it.
 */
export function portInUseMessage(err: unknown, settings: Record<number, string>): string | undefined {
  const port = portInUse(err);
  if (port === undefined) return undefined;
  const setting = settings[port];
  return (
    `Port ${port}${setting ? ` (${setting})` : ''} is already in use: another instance is probably still running ` +
    `(npm start, npm run worker, npm run orchestrator, or the Compose stack). Stop it, or pick another port` +
    `${setting ? ` with ${setting}` : ''}; \`ss -ltnp 'sport = :${port}'\` shows the process holding it.`
  );
}
