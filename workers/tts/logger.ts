import { hostname } from 'node:os';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * A pino logger writing one JSON object per line to stdout: log shippers (docker, journald, Loki)
 * read that as-is, and the `service` field says which service wrote each line.
 * `destination` exists for tests that capture the output.
 */
export function createLogger(name: string, level: LogLevel | string = 'info', destination?: DestinationStream): Logger {
  const options = {
    level,
    // `service` rather than pino's `name`, to match the field the orchestrator logs use.
    base: { service: name, pid: process.pid, hostname: hostname() },
    // ISO time and a level label read better in `docker logs` than epoch millis and numbers.
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
