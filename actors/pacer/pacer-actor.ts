/**
 * The output pacer as XState v5 callback-actor logic.
 *
 * Receives:  `{type:'FRAME', frame}` · `{type:'END', utteranceId?}` · `{type:'HOLD'}` ·
 *            `{type:'RELEASE'}` · `{type:'FLUSH'}`
 * Sends back `{type:'UTTERANCE.DONE', utteranceId}` (the session machine's event) when an
 * utterance's last frame has been sent, and `{type:'PACER.UNDERRUN', count}` on an underrun.
 *
 * The pacer is disposed (timers cancelled, queue dropped) when the actor stops. `input.onPacer`
 * hands the underlying `OutputPacer` to the owner, e.g. to read `stats()` for metrics.
 */
import { fromCallback } from 'xstate';
import { OutputPacer } from './output-pacer.js';
import type { OutputPacerOptions, PacedFrame } from './output-pacer.js';
import type { SessionEvent } from '../../machines/session-machine.js';

export type PacerActorEvent =
  | { type: 'FRAME'; frame: PacedFrame }
  | { type: 'END'; utteranceId?: string }
  | { type: 'HOLD' }
  | { type: 'RELEASE' }
  | { type: 'FLUSH' };

export type PacerActorEmitted =
  | Extract<SessionEvent, { type: 'UTTERANCE.DONE' }>
  | { type: 'PACER.UNDERRUN'; count: number };

export interface PacerActorInput extends Omit<OutputPacerOptions, 'onDrained' | 'onUnderrun'> {
  /** Receives the pacer once it exists (stats, tests). */
  onPacer?: (pacer: OutputPacer) => void;
}

export const pacerActorLogic = fromCallback<PacerActorEvent, PacerActorInput>(({ input, receive, sendBack }) => {
  const { onPacer, ...options } = input;
  const pacer = new OutputPacer({
    ...options,
    onDrained: (info) => {
      const done: PacerActorEmitted =
        info.utteranceId === undefined ? { type: 'UTTERANCE.DONE' } : { type: 'UTTERANCE.DONE', utteranceId: info.utteranceId };
      sendBack(done);
    },
    onUnderrun: (count) => sendBack({ type: 'PACER.UNDERRUN', count }),
  });
  onPacer?.(pacer);
  receive((event) => {
    switch (event.type) {
      case 'FRAME':
        pacer.enqueue(event.frame);
        break;
      case 'END':
        pacer.end(event.utteranceId);
        break;
      case 'HOLD':
        pacer.hold();
        break;
      case 'RELEASE':
        pacer.release();
        break;
      case 'FLUSH':
        pacer.flush();
        break;
    }
  });
  return () => pacer.dispose();
});
