import { z } from 'zod';

// Placeholders are substituted into strings, so `port: ${WORKER_PORT:-7001}` reaches the schema as
// the string "7001". These preprocessors turn such strings into the expected type; anything else
// is passed through unchanged so zod reports it with the offending value.
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
export const toNumber = (v: unknown): unknown => (typeof v === 'string' && NUMERIC.test(v.trim()) ? Number(v.trim()) : v);
const BOOLEANS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false, '1': true, '0': false };
export const toBoolean = (v: unknown): unknown => (typeof v === 'string' ? (BOOLEANS[v.trim().toLowerCase()] ?? v) : v);
// `${VAR:-}` yields "", which for an optional value means "not set".
export const toNullableNumber = (v: unknown): unknown => (typeof v === 'string' && ['', 'null', '~'].includes(v.trim()) ? null : toNumber(v));

export const got = (input: unknown): string => (typeof input === 'string' ? JSON.stringify(input) : String(input));
export const int = () =>
  z.preprocess(toNumber, z.number({ error: (iss) => `expected a number, got ${got(iss.input)}` }).int({ error: 'must be an integer' }));
export const port = () => int().pipe(z.number().min(0, { error: 'must be 0-65535' }).max(65_535, { error: 'must be 0-65535' }));
export const positiveInt = () => int().pipe(z.number().positive({ error: 'must be greater than 0' }));
/** The configs' default SCHED_FIFO priority, within what compose's `ulimits: rtprio` grants. */
export const DEFAULT_REALTIME_PRIORITY = 10;
/** SCHED_FIFO priority for a service's event loop (platform/realtime-priority.ts); 0 = never ask. */
export const realtimePriority = () =>
  int()
    .pipe(z.number().min(0, { error: 'must be 0-99 (0 = off)' }).max(99, { error: 'must be 0-99 (0 = off)' }))
    .default(DEFAULT_REALTIME_PRIORITY);
export const bool = () => z.preprocess(toBoolean, z.boolean({ error: (iss) => `expected true or false, got ${got(iss.input)}` }));
export const nonEmpty = () => z.string({ error: (iss) => `expected a string, got ${got(iss.input)}` }).trim().min(1, { error: 'must not be empty', abort: true });
/** pino's levels; `LOG_LEVEL` sets the services' (and `npm start`'s) level. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const logLevel = () => z.enum(LOG_LEVELS, { error: (iss) => `expected one of ${LOG_LEVELS.join(', ')}, got ${got(iss.input)}` }).default('info');
