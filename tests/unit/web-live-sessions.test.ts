import { describe, expect, it } from 'vitest';
import { eventDetail, LiveSessions, pathOfClientState, statePathOf } from '../../clients/web/src/live/sessions.js';

const actor = (id: string, value: unknown, extra: object = {}) => ({ type: '@xstate.actor', sessionId: id, createdAt: '1000', snapshot: { value }, ...extra });
const event = (id: string, ev: { type: string; [k: string]: unknown }, at = 1001) => ({ type: '@xstate.event', sessionId: id, createdAt: String(at), event: ev });
const snapshot = (id: string, value: unknown, ev: { type: string }, at = 1002, status = 'active') => ({
  type: '@xstate.snapshot',
  sessionId: id,
  createdAt: String(at),
  event: ev,
  snapshot: { value, status },
});

describe('live session view model (inspection events → sessions, states, logs)', () => {
  it('follows one session through its states, recording the transition just taken and a log', () => {
    const m = new LiveSessions();
    m.apply(actor('x:0', 'LISTENING'));
    m.apply(event('x:0', { type: 'TEXT', text: 'Hello there', isFinal: true }));
    m.apply(snapshot('x:0', { SPEAKING: 'playing' }, { type: 'TEXT' }));
    m.apply(event('x:0', { type: 'VAD.SPEECH_START', at: 1234.56 }, 1003));
    m.apply(snapshot('x:0', 'BARGED_IN', { type: 'VAD.SPEECH_START' }, 1004));
    const s = m.sessions.get('x:0');
    expect(s?.state).toBe('BARGED_IN');
    expect(s?.last).toEqual({ from: 'SPEAKING.playing', to: 'BARGED_IN', event: 'VAD.SPEECH_START', at: 1004 });
    expect(s?.log.map((e) => `${e.kind}:${e.type}`)).toEqual([
      'state:LISTENING',
      'event:TEXT',
      'state:SPEAKING.playing',
      'event:VAD.SPEECH_START',
      'state:BARGED_IN',
    ]);
    expect(s?.log[1]?.detail).toBe('text: "Hello there", isFinal: true');
  });

  it('a snapshot that does not change the state adds nothing; TERMINATED ends the session', () => {
    const m = new LiveSessions();
    m.apply(actor('x:1', 'LISTENING'));
    m.apply(snapshot('x:1', 'LISTENING', { type: 'CONTROL' }));
    expect(m.sessions.get('x:1')?.log).toHaveLength(1);
    m.apply(snapshot('x:1', 'TERMINATED', { type: 'TRANSPORT.CLOSED' }, 1005, 'done'));
    expect(m.sessions.get('x:1')?.ended).toBe(true);
    expect(m.list()[0]?.ended).toBe(true);
  });

  it('ignores child actors and messages without an actor', () => {
    const m = new LiveSessions();
    expect(m.apply(actor('x:2', 'idle', { parentId: 'x:0' }))).toBeNull();
    expect(m.apply(snapshot('x:2', 'busy', { type: 'GO' }))).toBeNull();
    expect(m.apply({ type: '@xstate.event' })).toBeNull();
    expect(m.sessions.size).toBe(0);
  });

  it('a view opened late learns sessions from GET /sessions and names actors by session id', () => {
    const m = new LiveSessions();
    m.applySessions([{ id: 'abc', state: 'PAUSED', since: '2026-01-01T00:00:00Z', actor: 'x:7' }]);
    expect(m.sessions.get('x:7')).toMatchObject({ sessionId: 'abc', state: 'SPEAKING.paused', ended: false });
    m.apply(snapshot('x:7', { SPEAKING: 'playing' }, { type: 'CONTROL' }));
    expect(m.sessions.get('x:7')?.last).toMatchObject({ from: 'SPEAKING.paused', to: 'SPEAKING.playing' });
    // Gone from the orchestrator's list: ended.
    m.applySessions([]);
    expect(m.sessions.get('x:7')?.ended).toBe(true);
  });

  it('lists live sessions first, newest first, and keeps only the 20 most recent ended ones', () => {
    const m = new LiveSessions();
    for (let i = 0; i < 25; i += 1) {
      m.apply({ ...actor(`x:${i}`, 'LISTENING'), createdAt: String(1000 + i) });
      m.apply(snapshot(`x:${i}`, 'TERMINATED', { type: 'TRANSPORT.CLOSED' }, 2000 + i, 'done'));
    }
    m.apply({ ...actor('x:live', 'LISTENING'), createdAt: '500' });
    const list = m.list();
    expect(list[0]?.actorId).toBe('x:live');
    expect(list).toHaveLength(21);
    expect(list[1]?.actorId).toBe('x:24');
  });

  it('state paths and event details', () => {
    expect(statePathOf({ SPEAKING: 'paused' })).toBe('SPEAKING.paused');
    expect(statePathOf('LISTENING')).toBe('LISTENING');
    expect(statePathOf(42)).toBeNull();
    expect(pathOfClientState('SPEAKING')).toBe('SPEAKING.playing');
    expect(pathOfClientState('BARGED_IN')).toBe('BARGED_IN');
    expect(eventDetail({ type: 'TEXT', text: 'x'.repeat(80), nested: { pcm: 'AAAA' } })).toBe(`text: "${'x'.repeat(57)}…"`);
  });
});
