import { describe, expect, it } from 'vitest';
import { Script } from '../../clients/cli/script.js';
import type { ClientMessage } from '../../transports/websocket/protocol.js';

/** A socket stand-in: records what went out, finishes replies when told. */
function fakeTransport() {
  const t = {
    connected: false,
    sentMessages: [] as ClientMessage[],
    finishedCount: 0,
    send(m: ClientMessage): boolean {
      if (!t.connected) return false;
      t.sentMessages.push(m);
      return true;
    },
    finished: () => t.finishedCount,
    listening: true,
    settled: () => t.listening,
    sent: () => undefined,
    /** What went out, compactly: "text:Hi", "voice:x", "voices". */
    log(): string[] {
      return t.sentMessages.map((m) => (m.type === 'text' ? `text:${m.text}` : m.type === 'session_start' ? `voice:${m.voice}` : m.type));
    },
  };
  return t;
}

describe('CLI script (piped input and --text)', () => {
  it('sends texts in order once connected, with --voice asked first', () => {
    const t = fakeTransport();
    const s = new Script(t, 'v1');
    s.say('One.');
    s.add('Two.');
    expect(t.log()).toEqual([]);
    t.connected = true;
    s.connected();
    expect(t.log()).toEqual(['voice:v1', 'text:One.', 'text:Two.']);
  });

  it('a voice switch waits until every earlier reply has finished and the session listens, then the texts after it go', () => {
    const t = fakeTransport();
    t.connected = true;
    const s = new Script(t, undefined);
    s.connected();
    s.add('A.');
    s.add('B.');
    s.add('/voice v2');
    s.add('C.');
    expect(t.log()).toEqual(['text:A.', 'text:B.']);
    t.listening = false;
    t.finishedCount = 1;
    s.pump();
    expect(t.log()).toEqual(['text:A.', 'text:B.']);
    t.finishedCount = 2;
    s.pump();
    expect(t.log(), 'B is done, but LISTENING has not come yet').toEqual(['text:A.', 'text:B.']);
    t.listening = true;
    s.pump();
    expect(t.log()).toEqual(['text:A.', 'text:B.', 'voice:v2', 'text:C.']);
  });

  it('/voice alone lists the voices in order; complete only once answered and every reply finished', () => {
    const t = fakeTransport();
    t.connected = true;
    const s = new Script(t, undefined);
    s.connected();
    s.add('/voice v2');
    s.add('/voice');
    s.add('Hi.');
    s.end();
    expect(t.log()).toEqual(['voice:v2', 'voices', 'text:Hi.']);
    expect(s.complete).toBe(false);
    t.finishedCount = 1;
    expect(s.complete).toBe(false);
    s.voicesListed();
    expect(s.complete).toBe(true);
  });

  it('/quit ends the input; prompt-only and unknown commands are ignored with a reason', () => {
    const t = fakeTransport();
    const s = new Script(t, undefined);
    expect(s.add('/pause')).toMatchObject({ kind: 'ignored', reason: expect.stringContaining('interactive prompt') });
    expect(s.add('/frobnicate')).toMatchObject({ kind: 'ignored', reason: expect.stringContaining('unknown command /frobnicate') });
    expect(s.reading).toBe(true);
    expect(s.add('/quit')).toEqual({ kind: 'quit' });
    expect(s.reading).toBe(false);
    expect(s.complete).toBe(true);
  });

  it('--text is said as written, even when it starts with a slash', () => {
    const t = fakeTransport();
    t.connected = true;
    const s = new Script(t, undefined);
    s.connected();
    s.say('/voice is a word here');
    expect(t.log()).toEqual(['text:/voice is a word here']);
  });

  it('after a reconnect: from the first unfinished text, in the voice in force there', () => {
    const t = fakeTransport();
    t.connected = true;
    const s = new Script(t, 'v1');
    s.connected();
    s.add('A.');
    s.add('/voice v2');
    s.add('B.');
    s.add('C.');
    t.finishedCount = 1;
    s.pump();
    expect(t.log()).toEqual(['voice:v1', 'text:A.', 'voice:v2', 'text:B.', 'text:C.']);
    // The connection drops with B and C unfinished; the new session starts in the default voice.
    t.finishedCount = 1;
    t.sentMessages.length = 0;
    s.connected();
    expect(t.log()).toEqual(['voice:v2', 'text:B.', 'text:C.']);
  });
});
