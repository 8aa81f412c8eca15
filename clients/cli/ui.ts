/** Terminal output: every event on its own line, without trampling a half-typed prompt line. */
import { clearLine, cursorTo, type Interface } from 'node:readline';

export class Ui {
  private rl: Interface | undefined;

  attach(rl: Interface): void {
    this.rl = rl;
  }

  line(text: string): void {
    const rl = this.rl;
    if (rl && process.stdout.isTTY) {
      clearLine(process.stdout, 0);
      cursorTo(process.stdout, 0);
      process.stdout.write(`${text}\n`);
      rl.prompt(true);
    } else {
      process.stdout.write(`${text}\n`);
    }
  }

  error(text: string): void {
    if (this.rl && process.stdout.isTTY) this.line(text);
    else process.stderr.write(`${text}\n`);
  }
}

export const fmtSeconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
