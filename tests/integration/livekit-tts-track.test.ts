/**
 * The agent's speech track against a real LiveKit server: a hold empties the AudioSource's queue
 * at once (nothing queued plays after it), a resume plays the held frames (nothing lost, nothing
 * twice), a clear drops them. The track is fed far ahead of real time so the source's queue is
 * full (400 ms): without the clear, that much audio would still play after the hold.
 */
import { AudioStream, Room, RoomEvent, TrackKind } from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TtsTrack } from '../../transports/livekit/tts-track.js';
import { startLiveKitServer, type LiveKitServer } from '../helpers/livekit-server.js';
import { waitFor } from '../helpers/poll.js';

const LOUD = 2000;

/** 20 ms frames of a 440 Hz tone at about -12 dBFS. */
function tone(frames: number): Buffer[] {
  const out: Buffer[] = [];
  for (let f = 0; f < frames; f += 1) {
    const b = Buffer.alloc(1920);
    for (let i = 0; i < 960; i += 1) b.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * (f * 960 + i)) / 48_000)), 2 * i);
    out.push(b);
  }
  return out;
}

describe('TtsTrack over a real LiveKit server', () => {
  let livekit: LiveKitServer;
  let agent: Room;
  let listener: Room;
  let track: TtsTrack;
  const heard: { at: number; loud: boolean }[] = [];
  const loudMs = (from = 0, to = Infinity): number => heard.filter((h) => h.loud && h.at >= from && h.at <= to).length * 10;
  const lastLoud = (): number => heard.filter((h) => h.loud).at(-1)?.at ?? 0;

  const token = (identity: string): Promise<string> => {
    const at = new AccessToken(livekit.apiKey, livekit.apiSecret, { identity, ttl: 600 });
    at.addGrant({ roomJoin: true, room: 'tts-track', canPublish: true, canSubscribe: true, canPublishData: true });
    return at.toJwt();
  };

  beforeAll(async () => {
    livekit = await startLiveKitServer();
    agent = new Room();
    listener = new Room();
    const subscribed = new Promise<void>((resolve) => {
      listener.on(RoomEvent.TrackSubscribed, (t) => {
        if (t.kind !== TrackKind.KIND_AUDIO) return;
        resolve();
        void (async () => {
          for await (const frame of new AudioStream(t, { sampleRate: 48_000, numChannels: 1 })) {
            let peak = 0;
            for (const s of frame.data) peak = Math.max(peak, Math.abs(s));
            heard.push({ at: performance.now(), loud: peak > LOUD });
          }
        })();
      });
    });
    await agent.connect(livekit.url, await token('agent'), { autoSubscribe: true, dynacast: false });
    await listener.connect(livekit.url, await token('listener'), { autoSubscribe: true, dynacast: false });
    track = await TtsTrack.publish(agent, 'tts-listener');
    await subscribed;
  }, 60_000);

  afterAll(async () => {
    await track?.close();
    await Promise.all([listener?.disconnect(), agent?.disconnect()]);
    await livekit?.stop();
  });

  it('hold: silent at once with 400 ms queued; resume: the rest plays, nothing lost or repeated; clear: dropped', async () => {
    const sent = performance.now();
    for (const f of tone(100)) track.send(f); // 2 s, handed over far ahead of real time
    await waitFor(() => heard.some((h) => h.loud), 'the tone at the listener');
    const firstLoud = (heard.find((h) => h.loud) as { at: number }).at;
    await waitFor(() => loudMs() >= 600, '600 ms of tone at the listener');

    const holdAt = performance.now();
    track.hold();
    await waitFor(() => heard.some((h) => h.at > holdAt + 400), '400 ms of track after the hold');
    const tail = Math.max(0, lastLoud() - holdAt);
    const playedMs = loudMs(0, holdAt + 400);
    const keptMs = track.backlog * 20;
    console.log(
      `[livekit] TtsTrack: first sound ${(firstLoud - sent).toFixed(0)} ms after the first frame; hold → last sound ${tail.toFixed(0)} ms ` +
        `(400 ms were queued); played ${playedMs} + kept ${keptMs} = ${playedMs + keptMs} of 2000 ms`,
    );
    expect(tail).toBeLessThan(150);
    // What played plus what the hold kept is the whole tone, to within the source's granularity
    // and the edges of the tone at the listener.
    expect(Math.abs(playedMs + keptMs - 2000)).toBeLessThanOrEqual(100);

    const resumeAt = performance.now();
    track.resume();
    await waitFor(() => track.backlog === 0 && heard.some((h) => h.at > lastLoud() + 300) && loudMs(resumeAt) > 0, 'the resumed tone to end');
    const total = loudMs();
    console.log(`[livekit] TtsTrack: after resume ${loudMs(resumeAt)} ms more; ${total} ms in all`);
    expect(Math.abs(total - 2000)).toBeLessThanOrEqual(100);

    for (const f of tone(50)) track.send(f);
    const before = loudMs();
    await waitFor(() => loudMs() - before >= 200, 'the next tone');
    const clearAt = performance.now();
    track.clear();
    expect(track.backlog).toBe(0);
    await waitFor(() => heard.some((h) => h.at > clearAt + 400), '400 ms of track after the clear');
    expect(lastLoud() - clearAt).toBeLessThan(150);
  });
});
