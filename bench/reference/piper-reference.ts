import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('./piper_reference.py', import.meta.url));

export class ReferenceUnavailableError extends Error {}

/** Runs the Python reference (`piper-tts`) once with a JSON request; resolves its JSON answer. */
export function runReference<T>(request: Record<string, unknown>): Promise<T> {
  const python = process.env.PYTHON ?? 'python3';
  return new Promise((resolve, reject) => {
    const child = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', (e) => reject(new ReferenceUnavailableError(`cannot run ${python}: ${e.message}`)));
    child.on('close', (code) => {
      if (code !== 0) {
        const hint = /No module named 'piper'/.test(err) ? ' (install it: python3 -m pip install piper-tts)' : '';
        reject(new ReferenceUnavailableError(`piper-tts reference failed${hint}: ${err.trim().slice(-2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(out) as T);
      } catch (e) {
        reject(new ReferenceUnavailableError(`reference printed invalid JSON: ${(e as Error).message}`));
      }
    });
    child.stdin.end(JSON.stringify(request));
  });
}
