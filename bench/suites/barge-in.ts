/**
 * Barge-in over WebSocket (policy `resume`): a client says a long text; after N audio frames it
 * talks over it — real espeak-ng speech sent as 16 kHz microphone frames at real time — and the
 * output must stop. Reported per SPEC §8:
 * - `barge_in_ms`: the VAD's speech-start decision (performance.now() in the orchestrator, which
 *   runs in this process) → the last audio message the client received before `BARGED_IN`
 *   (0 when that frame arrived before the edge);
 * - `onset_to_silence_ms`: the time the first speech sample was sent → that same last frame.
 */
import { concat, msToSamples, speechKit, toBytes } from '../../tests/fixtures/vad-signals.js';
import { pickRealVoice } from '../../workers/tts/voices/pick.js';
import { summary } from '../stats.js';
import { connectReady, LONG_TEXT, startStack, type Received } from './e2e.js';

const MIC_FRAME = msToSamples(20);
/** Silence before the speech in the microphone stream (the VAD sees some background first). */
const PRE_ROLL_MS = 200;
/** Interjections, spoken in turn. */
const INTERJECTIONS = ['Wait, stop, I have a question.', 'Hold on a second please.', 'Sorry, can I ask something?', 'No no, that is not right.'];

const sleepUntil = (t: number) => new Promise((r) => setTimeout(r, Math.max(0, t - performance.now())));

export async function bargeInSuite(opts: { trials: number; voice?: string; realtime?: boolean }): Promise<Record<string, unknown>> {
  const voice = pickRealVoice(opts.voice);
  const speech = speechKit();
  const stack = await startStack(voice.id, 'resume', opts);
  try {
    const mics = INTERJECTIONS.map((t) => concat(msToSamples(PRE_ROLL_MS), speech.speak(t), msToSamples(300)));
    const onsetSample = msToSamples(PRE_ROLL_MS);
    const silence = toBytes(new Int16Array(MIC_FRAME));
    const { client, sessionId } = await connectReady(stack.url);
    const runtime = stack.orch.sessions.get(sessionId)?.runtime;
    if (!runtime) throw new Error('the orchestrator has no runtime for the bench session');

    const bargeIn: number[] = [];
    const onsetToSilence: number[] = [];
    const orchSide: number[] = [];
    const vadToClient: number[] = [];
    let missed = 0;
    for (let i = 0; i < opts.trials; i += 1) {
      // Talk over the utterance after 10..64 frames (0.2 to 1.3 s into it).
      const afterFrames = 10 + ((i * 7) % 55);
      const mic = mics[i % mics.length] as Int16Array;
      const from = client.messages.length;
      client.send({ type: 'text', text: LONG_TEXT, is_final: true });
      let audio = 0;
      await client.next((m) => m.type === 'audio' && (audio += 1) >= afterFrames, `${afterFrames} audio frames`, from);

      let barged: Received | undefined;
      const bargedIn = client.next((m) => m.state === 'BARGED_IN', 'BARGED_IN', from, 10_000).then((m) => (barged = m));
      bargedIn.catch(() => undefined);
      let onsetAt: number | undefined;
      const started = performance.now();
      for (let s = 0; s < mic.length && !barged; s += MIC_FRAME) {
        const sent = performance.now();
        client.ws.send(toBytes(mic.subarray(s, s + MIC_FRAME)));
        if (onsetAt === undefined && s + MIC_FRAME > onsetSample) onsetAt = sent;
        await sleepUntil(started + ((s + MIC_FRAME) * 1000) / 16_000);
      }
      const held = await bargedIn.catch(() => undefined);
      if (!held || onsetAt === undefined) {
        missed += 1;
      } else {
        const upTo = client.messages.indexOf(held);
        const before = client.messages.slice(from, upTo).filter((m) => m.type === 'audio');
        const last = before[before.length - 1] as Received;
        const timing = runtime.lastBargeIn;
        if (!timing || timing.vadEdgeAt < started) throw new Error(`trial ${i}: no barge-in timing from the orchestrator`);
        bargeIn.push(Math.max(0, last.at - timing.vadEdgeAt));
        onsetToSilence.push(Math.max(0, last.at - onsetAt));
        orchSide.push(timing.latencyMs);
        const vad = client.messages.slice(from).find((m) => m.type === 'vad' && m.speech === true);
        if (vad) vadToClient.push(Math.max(0, last.at - vad.at));
      }

      // End the utterance, then let the VAD hear the end of the speech before the next trial.
      const stopFrom = client.messages.length;
      client.send({ type: 'control', command: 'STOP' });
      for (let k = 0; k < 50; k += 1) client.ws.send(silence);
      await client.next((m) => m.state === 'LISTENING', 'LISTENING after STOP', stopFrom);
      await client.next((m) => m.type === 'vad' && m.speech === false, 'speech end', from);
    }
    await client.close();

    return {
      suite: 'barge-in',
      voice: voice.id,
      scheduling: stack.scheduling,
      trials: opts.trials,
      barge_in_ms: summary(bargeIn),
      onset_to_silence_ms: summary(onsetToSilence),
      orch_barge_in_ms: summary(orchSide),
      vad_msg_to_last_frame_ms: summary(vadToClient),
      missed,
      policy: 'resume',
    };
  } finally {
    await stack.stop();
    speech.dispose();
  }
}
