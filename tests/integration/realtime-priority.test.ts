/**
 * platform/realtime-priority.ts in real child processes: granted as root, refused without
 * permission (and the process carries on), granted to an ordinary user with CAP_SYS_NICE, and
 * threads started afterwards never inherit it.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const PROBE = fileURLToPath(new URL('../support/realtime-probe.ts', import.meta.url));
const NOBODY = 65534;

interface Probe {
  first: { granted: boolean; priority?: number; reason?: string; hint?: string };
  same: boolean;
  line: string;
  main: { policy: string; nice: number };
  thread: { policy: string; nice: number };
}

function probe(priority: number, wrap: string[] = []): Probe {
  const argv = [...wrap, process.execPath, '--import', 'tsx', PROBE, String(priority)];
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop() as string) as Probe;
}

function requireRoot(): void {
  // Switching users and granting the priority both need root; CI runs as root. Anything else
  // fails here, loudly, rather than passing without having checked.
  if (process.getuid?.() !== 0) throw new Error('these tests start processes as other users and must run as root (CI does)');
}

describe('realtime priority for an event loop', () => {
  it('is granted as SCHED_FIFO to the calling thread only; a thread started later is an ordinary one', () => {
    requireRoot();
    const p = probe(10);
    expect(p.first).toEqual({ granted: true, priority: 10 });
    expect(p.same).toBe(true);
    expect(p.line).toBe('Event loop runs at realtime priority (SCHED_FIFO 10)');
    expect(p.main.policy).toBe('fifo');
    expect(p.thread).toEqual({ policy: 'other', nice: 0 });
  });

  it('without permission says so and how to allow it, and the process runs on at normal priority', () => {
    requireRoot();
    const p = probe(10, ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all']);
    expect(p.first.granted).toBe(false);
    expect(p.first.reason).toBe('not permitted');
    expect(p.first.hint).toContain('ulimit -r 10');
    expect(p.line).toMatch(/normal priority: realtime not permitted; allow it with/);
    expect(p.main.policy).toBe('other');
  });

  it('is granted to an ordinary user given CAP_SYS_NICE', () => {
    requireRoot();
    // (The other way, an rtprio limit, cannot be tried here: raising it needs CAP_SYS_RESOURCE,
    // which this machine's root lacks.)
    const p = probe(10, ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--inh-caps=-all,+sys_nice', '--ambient-caps=+sys_nice']);
    expect(p.first).toEqual({ granted: true, priority: 10 });
    expect(p.main.policy).toBe('fifo');
    expect(p.thread.policy).toBe('other');
  });

  it('0 asks for nothing', () => {
    const p = probe(0);
    expect(p.first).toEqual({ granted: false, reason: 'disabled (realtime_priority: 0)' });
    expect(p.line).toContain('REALTIME_PRIORITY=10');
    expect(p.main.policy).toBe('other');
  });
});
