import { readFileSync } from 'node:fs';

/** Command line of a live process, as argv. */
export function processArgv(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

/**
 * The first descendant of `pid` whose argv contains `arg` (npm runs a script through a shell,
 * so the process a user's signal should reach is a grandchild).
 */
export function findDescendant(pid: number, arg: string): number | undefined {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
  for (const child of children ? children.split(/\s+/).map(Number) : []) {
    if (processArgv(child).includes(arg)) return child;
    const found = findDescendant(child, arg);
    if (found) return found;
  }
  return undefined;
}
