import { describe, expect, it } from 'vitest';
import { SessionTracker } from '../../clients/cli/session.js';
import type { ServerMessage } from '../../transports/websocket/protocol.js';

const frame = Buffer.alloc(1920);
const state = (s: string) => ({ type: 'state', state: s }) as ServerMessage;
const done = { type: 'done' } as ServerMessage;

function tracker() {
  const log: string[] = [];
  const t = new SessionTracker({
    firstAudio: (u) => log.push(`first:${u.text ?? '?'}`),
    audio: () => undefined,
    done: (u) => log.push(`done:${u.text ?? '?'}`),
    stopped: (u, dropped) => log.push(`stopped:${u?.text ?? '-'}+${dropped}`),
    state: () => undefined,
  });
  return { t, log };
}

describe('CLI session tracker', () => {
  it('a reply: first audio, done, back to LISTENING', () => {
    const { t, log } = tracker();
    t.message(state('LISTENING'));
    t.sent('A');
    t.message(state('SPEAKING'));
    t.audio(frame);
    t.message(done);
    t.message(state('LISTENING'));
    expect(log).toEqual(['first:A', 'done:A']);
    expect([t.finished, t.idle]).toEqual([1, true]);
  });

  it('a STOP mid-reply drops the reply and the texts queued behind it', () => {
    const { t, log } = tracker();
    t.message(state('LISTENING'));
    t.sent('A');
    t.sent('B');
    t.message(state('SPEAKING'));
    t.audio(frame);
    t.message(state('LISTENING'));
    expect(log).toEqual(['first:A', 'stopped:A+1']);
    expect([t.finished, t.idle]).toEqual([2, true]);
  });

  it('a text sent between a done and the LISTENING after it is still awaited, and gets its latency', () => {
    const { t, log } = tracker();
    t.message(state('LISTENING'));
    t.sent('A');
    t.message(state('SPEAKING'));
    t.audio(frame);
    t.message(done);
    t.sent('B'); // reaches the server after its queue emptied
    t.message(state('LISTENING'));
    expect(log).toEqual(['first:A', 'done:A']);
    expect(t.idle).toBe(false);
    t.message(state('SPEAKING'));
    t.audio(frame);
    t.message(done);
    expect(log).toEqual(['first:A', 'done:A', 'first:B', 'done:B']);
  });

  it('a text queued before the done and stopped before its first audio is dropped', () => {
    const { t, log } = tracker();
    t.message(state('LISTENING'));
    t.sent('A');
    t.sent('B');
    t.message(state('SPEAKING'));
    t.audio(frame);
    t.message(done);
    // The server went on to B (still SPEAKING, no new state) and a STOP came before its audio.
    t.message(state('LISTENING'));
    expect(log).toEqual(['first:A', 'done:A', 'stopped:-+1']);
    expect([t.finished, t.idle]).toEqual([2, true]);
  });
});
