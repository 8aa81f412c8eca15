/**
 * Resolves with the first hit of `find` over a growing record (messages, calls), checked now and
 * again each time the record's owner calls the `listeners`; rejects with `timeoutError()` at the
 * deadline. Waits on events, never on a sleep.
 */
export function waitUntil<T>(find: () => T | undefined, listeners: Set<() => void>, timeoutMs: number, timeoutError: () => Error): Promise<T> {
  const hit = find();
  if (hit !== undefined) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    const check = () => {
      const found = find();
      if (found === undefined) return;
      cleanup();
      resolve(found);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(timeoutError());
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      listeners.delete(check);
    };
    listeners.add(check);
  });
}
