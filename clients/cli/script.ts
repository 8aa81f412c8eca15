/**
 * The non-interactive run (`--text`, or lines piped to stdin) as a script taken in order: text
 * lines are said, `/voice <id>` switches the voice for the texts after it, `/voice` alone lists
 * the voices, `/quit` ends the input. A switch waits until every earlier reply has finished and
 * the session is listening again: the orchestrator applies a switch to the next utterance it
 * starts, so a switch sent while earlier texts still wait in its queue would change their voice.
 */
import type { ClientMessage } from '../../transports/websocket/protocol.js';

type Action =
  | { kind: 'text'; text: string; ordinal: number }
  | { kind: 'voice'; id: string }
  | { kind: 'list'; answered: boolean };

export type ScriptLine =
  | { kind: 'text' | 'voice' | 'list' | 'quit' }
  /** A command that does nothing here; the reason says why. */
  | { kind: 'ignored'; reason: string };

export interface ScriptTransport {
  /** false when not connected: the script waits for the next `connected()`. */
  send(message: ClientMessage): boolean;
  /** Texts whose replies have finished (done, stopped or dropped), counted from the first. */
  finished(): number;
  /**
   * Nothing in flight and the session back to LISTENING (the server sends it after the last
   * `done`): a switch then reaches a session with nothing under way.
   */
  settled(): boolean;
  /** A text went out (its reply is now awaited). */
  sent(text: string): void;
}

const PROMPT_ONLY = new Set(['/pause', '/resume', '/stop']);

export class Script {
  private readonly actions: Action[] = [];
  private texts = 0;
  private cursor = 0;
  /** The voice asked of this connection's session (undefined: the server's default). */
  private sessionVoice: string | undefined;
  /** Voice lists asked for on this connection and not yet answered, oldest first. */
  private readonly listsInFlight: Extract<Action, { kind: 'list' }>[] = [];
  private inputEnded = false;

  constructor(
    private readonly transport: ScriptTransport,
    private readonly initialVoice: string | undefined,
  ) {}

  /** Text to say as it is (`--text`), even if it starts with a slash. */
  say(text: string): void {
    this.actions.push({ kind: 'text', text, ordinal: this.texts });
    this.texts += 1;
    this.pump();
  }

  /** One line of piped input (trimmed, not empty): text, or a command. */
  add(line: string): ScriptLine {
    if (!line.startsWith('/')) {
      this.say(line);
      return { kind: 'text' };
    }
    const [cmd = '', ...rest] = line.split(/\s+/);
    if (cmd === '/quit' || cmd === '/exit') {
      this.inputEnded = true;
      return { kind: 'quit' };
    }
    if (cmd !== '/voice') {
      return PROMPT_ONLY.has(cmd)
        ? { kind: 'ignored', reason: `${cmd} acts on the reply playing at the interactive prompt; ignored in piped input` }
        : { kind: 'ignored', reason: `unknown command ${cmd}; piped input takes text lines, /voice [id] and /quit` };
    }
    const action: Action = rest.length > 0 ? { kind: 'voice', id: rest.join(' ') } : { kind: 'list', answered: false };
    this.actions.push(action);
    this.pump();
    return { kind: action.kind };
  }

  /** The input has ended (stdin closed, or after `--text`). */
  end(): void {
    this.inputEnded = true;
  }

  /** Whether input lines are still taken (false after `/quit`). */
  get reading(): boolean {
    return !this.inputEnded;
  }

  /**
   * A new connection: its session starts in the server's default voice. The script goes back to
   * the first text not finished (or voice list not answered), in the voice in force there.
   */
  connected(): void {
    this.sessionVoice = undefined;
    this.listsInFlight.length = 0;
    const finished = this.transport.finished();
    const resumeAt = this.actions.findIndex((a) => (a.kind === 'text' && a.ordinal >= finished) || (a.kind === 'list' && !a.answered));
    this.cursor = resumeAt === -1 ? this.actions.length : resumeAt;
    const voice = this.voiceBefore(this.cursor);
    if (voice !== undefined) this.switchTo(voice);
    this.pump();
  }

  /** A voices list arrived (answers the oldest one asked). */
  voicesListed(): void {
    const list = this.listsInFlight.shift();
    if (list) list.answered = true;
  }

  /** Everything said and answered, and no more input to come: time to exit. */
  get complete(): boolean {
    return this.inputEnded && this.transport.finished() >= this.texts && this.actions.every((a) => a.kind !== 'list' || a.answered);
  }

  /** Sends what can go now; call again when a reply finishes or a connection opens. */
  pump(): void {
    while (this.cursor < this.actions.length) {
      const action = this.actions[this.cursor] as Action;
      if (action.kind === 'text') {
        if (!this.transport.send({ type: 'text', text: action.text, is_final: true })) return;
        this.transport.sent(action.text);
      } else if (action.kind === 'voice') {
        if (this.transport.finished() < this.textsBefore(this.cursor) || !this.transport.settled()) return;
        if (!this.switchTo(action.id)) return;
      } else if (!action.answered) {
        if (!this.transport.send({ type: 'voices' })) return;
        this.listsInFlight.push(action);
      }
      this.cursor += 1;
    }
  }

  private switchTo(voice: string): boolean {
    if (voice === this.sessionVoice) return true;
    if (!this.transport.send({ type: 'session_start', voice })) return false;
    this.sessionVoice = voice;
    return true;
  }

  private textsBefore(index: number): number {
    return this.actions.slice(0, index).filter((a) => a.kind === 'text').length;
  }

  private voiceBefore(index: number): string | undefined {
    const last = this.actions
      .slice(0, index)
      .filter((a): a is Extract<Action, { kind: 'voice' }> => a.kind === 'voice')
      .at(-1);
    return last?.id ?? this.initialVoice;
  }
}
