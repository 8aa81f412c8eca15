/**
 * The VAD as an XState v5 callback actor: the session receives the user's audio as
 * `{ type: 'AUDIO', pcm }` events and gets back only the debounced edges, shaped as the session
 * machine's events (machines/session-machine.ts): `VAD.SPEECH_START { at, onsetAt }` and
 * `VAD.SPEECH_END { at, speechMs }`. Audio never travels back to the parent.
 *
 * Model loading is asynchronous; audio received before the model is ready is queued (copied)
 * and fed in order once it is. Stopping the actor ends the detector without sending a final
 * edge (the session is going away; a speech end it would not act on is noise).
 */
import { fromCallback } from 'xstate';
import { StreamingVad, type PcmInput, type StreamingVadCreateOptions } from './detector.js';

export type VadActorEvent = { type: 'AUDIO'; pcm: PcmInput } | { type: 'VAD.RESET' };

export type VadSpeechStartEvent = { type: 'VAD.SPEECH_START'; at: number; onsetAt: number };
export type VadSpeechEndEvent = { type: 'VAD.SPEECH_END'; at: number; speechMs: number };
export type VadEdgeEvent = VadSpeechStartEvent | VadSpeechEndEvent;

export interface VadActorInput extends StreamingVadCreateOptions {
  /** A ready detector to use (not closed when the actor stops); otherwise one is created. */
  vad?: StreamingVad;
  /** Model load or inference failures; the actor keeps running (default: ignored). */
  onError?: (error: Error) => void;
}

export const vadActorLogic = fromCallback<VadActorEvent, VadActorInput | undefined>(({ input, sendBack, receive }) => {
  const opts = input ?? {};
  const onError = opts.onError ?? (() => undefined);
  let stopped = false;
  let vad: StreamingVad | null = null;
  let unsubscribe: (() => void) | null = null;
  const queued: PcmInput[] = [];

  const feed = (pcm: PcmInput): void => {
    (vad as StreamingVad).push(pcm).catch(onError);
  };

  const attach = (ready: StreamingVad): void => {
    vad = ready;
    unsubscribe = ready.on('edge', (edge) => {
      if (stopped) return;
      // Only the edge's timing fields: never audio, never internal objects.
      if (edge.type === 'speech_start') sendBack({ type: 'VAD.SPEECH_START', at: edge.at, onsetAt: edge.onsetAt } satisfies VadSpeechStartEvent);
      else sendBack({ type: 'VAD.SPEECH_END', at: edge.at, speechMs: edge.speechMs } satisfies VadSpeechEndEvent);
    });
    for (const pcm of queued.splice(0)) feed(pcm);
  };

  if (opts.vad) {
    attach(opts.vad);
  } else {
    StreamingVad.create(opts).then(
      (created) => {
        if (stopped) void created.close();
        else attach(created);
      },
      (err: unknown) => onError(err instanceof Error ? err : new Error(String(err))),
    );
  }

  receive((event) => {
    if (stopped) return;
    if (event.type === 'AUDIO') {
      if (vad) feed(event.pcm);
      else queued.push(event.pcm instanceof Int16Array ? event.pcm.slice() : Uint8Array.from(event.pcm));
    } else if (event.type === 'VAD.RESET') {
      queued.length = 0;
      // Ordered with the audio: what came before is processed first.
      if (vad) (vad as StreamingVad).reset().catch(onError);
    }
  });

  return () => {
    stopped = true;
    unsubscribe?.();
    queued.length = 0;
    if (vad && !opts.vad) void vad.close().catch(() => undefined);
  };
});
