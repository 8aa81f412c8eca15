import { status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config.js';
import type { WorkerMetrics } from '../metrics.js';
import { ModelError, type ModelManager, type ModelState } from '../models/model-manager.js';
import type { SessionStore, WorkerSession } from '../sessions/session-store.js';
import { frameBytes, FRAME_MS, OUTPUT_SAMPLE_RATE } from '../engine/audio-frame.js';
import {
  AudioFrame,
  Command,
  type ModelInfo,
  type SynthesisStats,
  type TextChunk,
  type TTSServiceServer,
} from './generated/tts.js';
import { grpcError, InputError, toGrpcError } from './status.js';
import { checkNotBlank, checkStartAfter, checkText, synthesisOptionsFrom } from './validate.js';

export interface ServiceDeps {
  config: WorkerConfig;
  models: ModelManager;
  sessions: SessionStore;
  metrics: WorkerMetrics;
  logger: Logger;
}

function modelInfo(m: ModelState): ModelInfo {
  return {
    modelId: m.modelId,
    language: m.voice.metadata.language,
    voiceName: m.voice.metadata.voice_name,
    variant: m.voice.metadata.variant,
    sampleRate: m.voice.metadata.sample_rate,
    loaded: m.loaded,
    default: m.isDefault,
    sessionsUsing: m.sessionsUsing,
    loadedAtMs: m.loadedAt,
    lastUsedMs: m.lastUsed,
    tags: m.voice.metadata.tags,
  };
}

function median(xs: readonly number[]): number {
  if (xs.length === 0) return 0;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

type SynthesizeCall = ServerDuplexStream<TextChunk, AudioFrame>;

/** The TTSService handlers (SPEC §4) over the model manager and session store. */
export function createTtsService(deps: ServiceDeps): TTSServiceServer {
  const { config, models, sessions, metrics, logger } = deps;
  // Plain numbers for GetCapabilities (prom-client values are read asynchronously).
  let framesSent = 0;
  const recentFal: number[] = [];
  const defaults = { loudnessTarget: config.audio.loudness_target_lufs, chunking: config.audio.chunking, trimLeadingSilenceDb: config.audio.trim_leading_silence_dbfs };

  async function runSynthesis(call: SynthesizeCall, session: WorkerSession, text: string, utteranceId: string | undefined, startAfterMs: number): Promise<void> {
    const stream = session.lease.engine.synthesize(text, { ...session.options, startAfterMs });
    const active = { stream, lastSequence: 0, lastTextDone: 0, stoppedByControl: false };
    session.active = active;
    let cancelled = false;
    const onCancel = () => {
      cancelled = true;
      stream.stop();
    };
    call.on('cancelled', onCancel);
    call.on('close', onCancel);
    const log = logger.child({ session: session.id, utterance: utteranceId });
    let sentFinal = false;
    let validSamples = 0;
    const stats = (): SynthesisStats => ({
      firstFrameLatencyMs: (stream.stats.firstFrameAt ?? stream.stats.startedAt) - stream.stats.startedAt,
      rtf: stream.stats.audioMs > 0 ? stream.stats.computeMs / stream.stats.audioMs : 0,
      stopped: active.stoppedByControl,
      frames: stream.stats.frames,
      audioMs: (validSamples / OUTPUT_SAMPLE_RATE) * 1000,
    });
    const send = async (frame: AudioFrame) => {
      if (!call.write(frame)) {
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off('drain', done);
            call.off('close', done);
            resolve();
          };
          call.on('drain', done);
          call.on('close', done);
        });
      }
    };
    try {
      for await (const frame of stream) {
        if (cancelled) break;
        if (frame.sequence === 1) {
          const fal = performance.now() - stream.stats.startedAt;
          metrics.firstAudioLatencyMs.observe(fal);
          recentFal.push(fal);
          if (recentFal.length > 100) recentFal.shift();
        }
        const final = frame.final && !stream.stopped;
        // Recorded before the (possibly waiting) write: once write() is called the frame is sent.
        active.lastSequence = frame.sequence;
        active.lastTextDone = frame.textDone;
        validSamples += frame.validSamples;
        await send(
          AudioFrame.create({
            sessionId: session.id,
            audio: frameBytes(frame),
            sequence: frame.sequence,
            isFinal: final,
            sampleRate: OUTPUT_SAMPLE_RATE,
            frameDurationMs: FRAME_MS,
            validSamples: frame.validSamples,
            timestampMs: Date.now(),
            stats: final ? stats() : undefined,
            utteranceId,
            textDone: frame.textDone,
          }),
        );
        metrics.framesSent.inc();
        framesSent += 1;
        // Frames already queued are written in a microtask chain that would starve I/O; a
        // macrotask turn every few frames lets a Control call (PAUSE) in between.
        if (frame.sequence % 4 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        sentFinal = final;
      }
      if (!cancelled && !sentFinal) {
        // STOP (or a synthesis that produced no audio) ends with an empty final marker.
        await send(
          AudioFrame.create({
            sessionId: session.id,
            audio: Buffer.alloc(0),
            sequence: active.lastSequence + 1,
            isFinal: true,
            sampleRate: OUTPUT_SAMPLE_RATE,
            frameDurationMs: FRAME_MS,
            validSamples: 0,
            timestampMs: Date.now(),
            stats: stats(),
            utteranceId,
            textDone: active.stoppedByControl ? active.lastTextDone : text.length,
          }),
        );
      }
      const s = stats();
      metrics.observeRtf(s.rtf);
      log.info({ frames: s.frames, first_frame_ms: Math.round(s.firstFrameLatencyMs), rtf: Number(s.rtf.toFixed(3)), stopped: s.stopped, cancelled }, 'Synthesis finished');
      if (!cancelled) call.end();
    } catch (err) {
      metrics.synthesisErrors.inc({ code: 'internal' });
      log.error({ err }, 'Synthesis failed');
      if (!cancelled) call.emit('error', grpcError(status.INTERNAL, `synthesis failed: ${(err as Error).message}`));
    } finally {
      call.off('cancelled', onCancel);
      call.off('close', onCancel);
      if (session.active === active) session.active = undefined;
    }
  }

  return {
    async startSession(call, callback) {
      let lease;
      try {
        const modelId = call.request.modelId || models.defaultModel;
        const options = synthesisOptionsFrom(call.request.options, defaults);
        lease = await models.acquire(modelId);
        lease.engine.model.speakerId(options.speaker); // unknown speaker -> INVALID_ARGUMENT now, not mid-utterance
        const session = sessions.add(lease, options, call.request.sessionId);
        metrics.sessionOpened();
        logger.info({ session: session.id, model: modelId }, 'Session started');
        callback(null, { sessionId: session.id, modelId, sampleRate: OUTPUT_SAMPLE_RATE, frameDurationMs: FRAME_MS });
      } catch (err) {
        lease?.release();
        callback(toGrpcError(err));
      }
    },

    endSession(call, callback) {
      if (!sessions.end(call.request.sessionId)) {
        callback(grpcError(status.NOT_FOUND, `unknown session ${JSON.stringify(call.request.sessionId)}`));
        return;
      }
      metrics.sessionClosed();
      logger.info({ session: call.request.sessionId }, 'Session ended');
      callback(null, { ended: true });
    },

    synthesize(call) {
      let session: WorkerSession | undefined;
      let text = '';
      let utteranceId: string | undefined;
      let startAfterMs = 0;
      let state: 'collecting' | 'running' | 'failed' = 'collecting';
      const fail = (err: unknown) => {
        if (state === 'failed') return;
        state = 'failed';
        metrics.synthesisErrors.inc({ code: err instanceof InputError ? 'invalid_input' : 'other' });
        call.emit('error', toGrpcError(err));
      };
      const start = () => {
        if (state !== 'collecting') return;
        try {
          if (!session) throw new InputError(status.INVALID_ARGUMENT, 'no text chunk with a session_id was sent');
          checkNotBlank(text);
          if (session.active) throw new InputError(status.FAILED_PRECONDITION, `session ${session.id} is already synthesizing`);
          state = 'running';
          void runSynthesis(call, session, text, utteranceId, startAfterMs);
        } catch (err) {
          fail(err);
        }
      };
      call.on('data', (chunk: TextChunk) => {
        if (state !== 'collecting') return; // text after the final chunk is ignored
        try {
          if (!session) {
            session = sessions.get(chunk.sessionId);
            utteranceId = chunk.utteranceId;
            startAfterMs = checkStartAfter(chunk.startAfterMs);
            if (session.active) throw new InputError(status.FAILED_PRECONDITION, `session ${session.id} is already synthesizing`);
          } else if (chunk.sessionId && chunk.sessionId !== session.id) {
            throw new InputError(status.INVALID_ARGUMENT, 'all chunks of one stream must name the same session');
          }
          text += chunk.text;
          checkText(text, config.limits.max_text_chars);
          if (chunk.isFinal) start();
        } catch (err) {
          fail(err);
        }
      });
      // A client reset also ends the readable side (just before 'cancelled' is raised): look
      // once more after this tick so a cancelled call never starts a synthesis.
      call.on('end', () => setImmediate(() => (call.cancelled ? undefined : start())));
      call.on('error', () => undefined); // a vanished client: runSynthesis sees 'cancelled'
    },

    control(call, callback) {
      const t0 = performance.now();
      const { sessionId, command } = call.request;
      const name = Command[command] ?? String(command);
      const ack = (session: WorkerSession, message: string) => {
        metrics.controlLatencyMs.observe({ command: name }, performance.now() - t0);
        callback(null, { success: true, message, timestampMs: Date.now(), lastSequence: session.active?.lastSequence ?? 0 });
      };
      try {
        const session = sessions.get(sessionId);
        if (command === Command.RELOAD) {
          if (session.active) throw new InputError(status.FAILED_PRECONDITION, 'RELOAD needs an idle session (no synthesis in progress)');
          const modelId = session.lease.modelId;
          void models
            .reload(modelId)
            .then(async () => {
              const fresh = await models.acquire(modelId);
              session.lease.release();
              session.lease = fresh;
              ack(session, `reloaded ${modelId}`);
            })
            .catch((err: unknown) => callback(toGrpcError(err instanceof ModelError ? err : new Error(String(err)))));
          return;
        }
        const active = session.active;
        if (!active) throw new InputError(status.FAILED_PRECONDITION, `${name} needs a synthesis in progress on session ${sessionId}`);
        switch (command) {
          case Command.PAUSE:
            active.stream.pause();
            return ack(session, 'paused');
          case Command.RESUME:
            active.stream.resume();
            return ack(session, 'resumed');
          case Command.STOP:
            active.stoppedByControl = true;
            active.stream.stop();
            // The session is free for its next utterance now; the stopped stream only has its end
            // marker left to send (which may wait on the connection).
            ack(session, 'stopped');
            session.active = undefined;
            return;
          default:
            throw new InputError(status.INVALID_ARGUMENT, `unknown command ${JSON.stringify(command)}`);
        }
      } catch (err) {
        callback(toGrpcError(err));
      }
    },

    listModels(_call, callback) {
      callback(null, { models: models.list().map(modelInfo) });
    },

    async loadModel(call, callback) {
      try {
        if (!call.request.modelId) throw new InputError(status.INVALID_ARGUMENT, 'model_id is required');
        const { warmupMs } = await models.load(call.request.modelId);
        const state = models.list().find((m) => m.modelId === call.request.modelId);
        callback(null, { model: state ? modelInfo(state) : undefined, warmupMs });
      } catch (err) {
        callback(toGrpcError(err));
      }
    },

    async unloadModel(call, callback) {
      try {
        if (call.request.force) {
          // Forced: the model goes even if sessions use it; those sessions end (and stop).
          for (const id of sessions.ids()) {
            if (sessions.get(id).lease.modelId === call.request.modelId && sessions.end(id)) metrics.sessionClosed();
          }
        }
        await models.unload(call.request.modelId, call.request.force);
        callback(null, { unloaded: true, message: `unloaded ${call.request.modelId}` });
      } catch (err) {
        callback(toGrpcError(err));
      }
    },

    getCapabilities(_call, callback) {
      const snap = metrics.snapshot();
      callback(null, {
        name: config.name,
        streaming: config.capabilities.streaming,
        languages: config.capabilities.languages,
        cpuOk: config.capabilities.cpu_ok,
        maxConcurrentSessions: config.capabilities.max_concurrent_sessions,
        residentModels: models.residentModels(),
        defaultModel: models.defaultModel,
        metrics: { activeSessions: snap.active_sessions, rtf: snap.rtf ?? 0, framesSent, falMsP50: median(recentFal) },
      });
    },
  };
}
