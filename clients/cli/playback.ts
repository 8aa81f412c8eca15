/**
 * Plays 48 kHz mono s16le through the system's player (aplay, paplay or sox's play) fed on stdin.
 * There is no audio library offline; when no player exists or it fails, one line says so and
 * everything else keeps working.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const PLAYERS: { bin: string; args: string[] }[] = [
  { bin: 'aplay', args: ['-q', '-t', 'raw', '-f', 'S16_LE', '-r', '48000', '-c', '1'] },
  { bin: 'paplay', args: ['--raw', '--format=s16le', '--rate=48000', '--channels=1'] },
  { bin: 'play', args: ['-q', '-t', 'raw', '-e', 'signed-integer', '-b', '16', '-r', '48000', '-c', '1', '-'] },
];

/** Said once when nothing can play; the hint depends on whether the replies are saved anyway. */
export function noAudioMessage(saving: boolean): string {
  return saving ? 'no audio output device; the replies are only written to file' : 'no audio output device; use --out FILE.wav or --out-dir DIR';
}

export function findExecutable(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, bin);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {
      // not here
    }
  }
  return undefined;
}

export class Player {
  private child: ChildProcess | undefined;
  private broken = false;
  private warned = false;
  private readonly player = PLAYERS.find((p) => findExecutable(p.bin));

  constructor(
    private readonly enabled: boolean,
    private readonly warn: (line: string) => void,
    /** --out or --out-dir given: the audio is kept even when it cannot be played. */
    private readonly saving = false,
  ) {}

  write(pcm: Buffer): void {
    if (!this.enabled || this.broken) return;
    const child = this.child ?? this.spawnPlayer();
    if (!child?.stdin || child.stdin.destroyed) return;
    child.stdin.write(pcm);
  }

  /** Drops what the player has buffered (after a stop or barge-in): the next write starts afresh. */
  flush(): void {
    this.kill();
  }

  stop(): void {
    this.kill();
  }

  private kill(): void {
    const child = this.child;
    this.child = undefined;
    if (!child) return;
    child.removeAllListeners('exit');
    child.stdin?.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  }

  private fail(): void {
    this.broken = true;
    this.kill();
    if (!this.warned) {
      this.warned = true;
      this.warn(noAudioMessage(this.saving));
    }
  }

  private spawnPlayer(): ChildProcess | undefined {
    if (!this.player) {
      this.fail();
      return undefined;
    }
    const child = spawn(this.player.bin, this.player.args, { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', () => this.fail());
    child.stdin.on('error', () => this.fail());
    child.on('exit', (code) => {
      if (this.child === child) {
        this.child = undefined;
        if (code !== 0) this.fail();
      }
    });
    this.child = child;
    return child;
  }
}
