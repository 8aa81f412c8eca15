/**
 * A gRPC server interceptor for the TTS worker (`startTestWorker({ interceptors: [tap.interceptor] })`)
 * that records, per worker session, every call the worker receives — StartSession (with the id
 * it answered), Synthesize (text, utterance id, frames sent, final status), Control (command and
 * result), EndSession — exactly as they arrive on the worker's socket. Recording changes nothing:
 * every message and status passes through unchanged.
 *
 * It can also make the worker fail a call for real, on demand (fault injection), with statuses the
 * worker itself sends (not UNAVAILABLE: the orchestrator takes that for a dead worker and avoids it
 * in every session for a while, which would leak one path's fault into the others):
 * - `holdNextStartSession()`: the next StartSession request is held before it reaches the worker's
 *   handler; `fail()` ends it with RESOURCE_EXHAUSTED (the worker's answer when it is full).
 * - `stallSynthesis(sessionId, utteranceId, passFrames)`: that Synthesize call sends its first
 *   `passFrames` frames, then nothing more (the frames the worker keeps producing are dropped, as a
 *   hung worker would); `fail()` ends the stream with INTERNAL "synthesis failed" (the worker's
 *   answer when synthesis throws), at any time once the call has begun. The worker's handler sees
 *   the call cancelled, exactly as when a client vanishes.
 */
import { Metadata, ServerInterceptingCall, status, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import { Command, type AudioFrame, type ControlRequest, type EndSessionRequest, type StartSessionResponse, type TextChunk } from '../../workers/tts/grpc/generated/tts.js';
import { waitUntil } from './wait-until.js';

export type ControlName = 'PAUSE' | 'RESUME' | 'STOP' | 'RELOAD';

export type WorkerCall =
  | { rpc: 'StartSession'; sessionId: string; at: number }
  | { rpc: 'Synthesize'; sessionId: string; utteranceId: string; text: string; frames: number; status?: number; at: number }
  | { rpc: 'Control'; sessionId: string; command: ControlName; ok?: boolean; at: number }
  | { rpc: 'EndSession'; sessionId: string; at: number };

/** A fault armed on a call: `arrived` once the call is in the tap's hands, `fail()` ends it with an error status. */
export interface Fault {
  readonly arrived: Promise<void>;
  fail(): void;
}

interface ArmedFault extends Fault {
  bind(call: ServerInterceptingCallInterface): void;
}

interface StallFault extends ArmedFault {
  sessionId: string;
  utteranceId: string;
  passFrames: number;
  /** No frame leaves any more (the stall began, or the call failed). */
  engaged: boolean;
}

function armFault(what: string, code: status, beforeFail: () => void = () => undefined): ArmedFault {
  let call: ServerInterceptingCallInterface | undefined;
  let failed = false;
  let markArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (markArrived = resolve));
  return {
    arrived,
    bind(c) {
      call = c;
      markArrived();
    },
    fail() {
      if (!call) throw new Error(`${what}: the call has not arrived yet`);
      if (failed) return;
      failed = true;
      beforeFail();
      call.sendStatus({ code, details: `injected fault: ${what}`, metadata: new Metadata() });
    },
  };
}

const commandName = (c: Command): ControlName => (Command[c] ?? `#${c}`) as ControlName;

export class WorkerTap {
  /** Every call, in arrival order. */
  readonly calls: WorkerCall[] = [];
  /** StartSession calls the worker refused (with their status), oldest first. */
  readonly refused: string[] = [];
  private readonly listeners = new Set<() => void>();
  private nextStartHold: ArmedFault | undefined;
  private readonly stalls: StallFault[] = [];

  readonly interceptor: ServerInterceptor = (method, call) => {
    switch (method.path) {
      case '/tts.TTSService/StartSession':
        return this.startSession(call);
      case '/tts.TTSService/Synthesize':
        return this.synthesize(call);
      case '/tts.TTSService/Control':
        return this.control(call);
      case '/tts.TTSService/EndSession':
        return new ServerInterceptingCall(call, {
          start: (next) =>
            next({
              onReceiveMessage: (req: EndSessionRequest, pass) => {
                this.record({ rpc: 'EndSession', sessionId: req.sessionId, at: performance.now() });
                pass(req);
              },
            }),
        });
      default:
        return new ServerInterceptingCall(call);
    }
  };

  /** The calls of one worker session, in arrival order. */
  callsFor(sessionId: string): WorkerCall[] {
    return this.calls.filter((c) => c.sessionId === sessionId);
  }

  /** Resolves with the first call (from index `from` of `calls`) matching `pred`; rejects at the deadline. */
  waitFor(pred: (c: WorkerCall) => boolean, what: string, timeoutMs: number, from = 0): Promise<WorkerCall> {
    const find = () => this.calls.slice(from).find(pred);
    return waitUntil(find, this.listeners, timeoutMs, () => new Error(`timed out after ${timeoutMs} ms waiting at the worker for ${what}`));
  }

  /** Holds the next StartSession before the worker's handler sees it (see the file header). */
  holdNextStartSession(): Fault {
    if (this.nextStartHold) throw new Error('a StartSession hold is already armed');
    const fault = armFault('no session for you', status.RESOURCE_EXHAUSTED);
    this.nextStartHold = fault;
    return fault;
  }

  /** Drops an armed StartSession hold that no call took. */
  disarmStartSessionHold(): void {
    this.nextStartHold = undefined;
  }

  /** Stalls the Synthesize of `utteranceId` in `sessionId` after `passFrames` frames (see the file header). */
  stallSynthesis(sessionId: string, utteranceId: string, passFrames: number): Fault {
    // Failing engages the stall first: a frame written after the status would break the stream.
    const fault: StallFault = {
      ...armFault(`synthesis failed (${utteranceId} of ${sessionId})`, status.INTERNAL, () => (fault.engaged = true)),
      sessionId,
      utteranceId,
      passFrames,
      engaged: false,
    };
    this.stalls.push(fault);
    return fault;
  }

  private record(call: WorkerCall): void {
    this.calls.push(call);
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private startSession(call: ServerInterceptingCallInterface): ServerInterceptingCall {
    const hold = this.nextStartHold;
    this.nextStartHold = undefined;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (req, pass) => {
            if (hold) hold.bind(call);
            else pass(req);
          },
          onReceiveHalfClose: (pass) => {
            if (!hold) pass();
          },
        }),
      sendMessage: (res: StartSessionResponse, pass) => {
        this.record({ rpc: 'StartSession', sessionId: res.sessionId, at: performance.now() });
        pass(res);
      },
      sendStatus: (st, pass) => {
        if (st.code !== status.OK) this.refused.push(`StartSession: ${status[st.code] ?? st.code} ${st.details ?? ''}`);
        pass(st);
      },
    });
  }

  private synthesize(call: ServerInterceptingCallInterface): ServerInterceptingCall {
    let rec: Extract<WorkerCall, { rpc: 'Synthesize' }> | undefined;
    let stall: StallFault | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (chunk: TextChunk, pass) => {
            if (!rec) {
              rec = { rpc: 'Synthesize', sessionId: chunk.sessionId, utteranceId: chunk.utteranceId ?? '', text: '', frames: 0, at: performance.now() };
              const i = this.stalls.findIndex((s) => s.sessionId === chunk.sessionId && s.utteranceId === chunk.utteranceId);
              if (i >= 0) {
                stall = this.stalls.splice(i, 1)[0];
                stall?.bind(call);
              }
              rec.text += chunk.text;
              this.record(rec);
            } else {
              rec.text += chunk.text;
            }
            pass(chunk);
          },
        }),
      sendMessage: (frame: AudioFrame, pass) => {
        // Stalled: this frame and every later one never leave the worker.
        if (stall && rec && (stall.engaged || rec.frames >= stall.passFrames)) {
          stall.engaged = true;
          return;
        }
        if (rec) rec.frames += 1;
        pass(frame);
      },
      sendStatus: (st, pass) => {
        if (stall?.engaged) return; // the stalled call ends only by fail()
        if (rec) {
          rec.status = st.code;
          this.notify();
        }
        pass(st);
      },
    });
  }

  private control(call: ServerInterceptingCallInterface): ServerInterceptingCall {
    let rec: Extract<WorkerCall, { rpc: 'Control' }> | undefined;
    return new ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (req: ControlRequest, pass) => {
            rec = { rpc: 'Control', sessionId: req.sessionId, command: commandName(req.command), at: performance.now() };
            this.record(rec);
            pass(req);
          },
        }),
      sendMessage: (res, pass) => {
        if (rec) rec.ok = true;
        pass(res);
      },
      sendStatus: (st, pass) => {
        if (rec && st.code !== status.OK) rec.ok = false;
        pass(st);
      },
    });
  }
}
