/**
 * LiveKit transport: the page joins a room with a token from the orchestrator
 * (`POST /api/livekit/token`), publishes the (gated) microphone, plays the agent's audio track
 * through the page's audio graph, and exchanges the SPEC §5 JSON messages as reliable data
 * packets on topic `duplex`. livekit-client is loaded only when this mode is used.
 */
import type { Room } from 'livekit-client';
import { DATA_TOPIC, parseServerMessage, type ClientMessage } from '../shared/messages.js';
import { microphoneErrorMessage, type Transport, type TransportDeps } from './transport.js';
import { initialGate } from './ws-transport.js';

interface TokenResponse {
  url: string;
  token: string;
  room: string;
  identity: string;
}

export async function fetchToken(body: { identity?: string; room?: string }): Promise<TokenResponse> {
  const res = await fetch('api/livekit/token', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!res.ok) throw new Error(`token request failed: ${res.status} ${await res.text()}`);
  return (await res.json()) as TokenResponse;
}

export class LiveKitTransport implements Transport {
  readonly kind = 'livekit' as const;
  private room: Room | undefined;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  /** Remote audio must also feed a (muted) media element or Chrome delivers silence to WebAudio. */
  private readonly elements: HTMLMediaElement[] = [];
  roomName: string | undefined;

  constructor(private readonly deps: TransportDeps) {}

  async connect(): Promise<void> {
    const { Room, RoomEvent, Track, ConnectionState } = await import('livekit-client');
    const { engine, events } = this.deps;
    events.onStatus('connecting', 'requesting a room token');
    const params = new URLSearchParams(window.location.search);
    const token = await fetchToken({ ...(params.get('identity') && { identity: params.get('identity') as string }), ...(params.get('room') && { room: params.get('room') as string }) });
    this.roomName = token.room;
    const room = new Room({ adaptiveStream: false, dynacast: false, webAudioMix: false });
    this.room = room;
    room.on(RoomEvent.DataReceived, (payload, _participant, _kind, topic) => {
      if (topic !== DATA_TOPIC) return;
      const m = parseServerMessage(this.decoder.decode(payload));
      if (m) events.onMessage(m);
    });
    room.on(RoomEvent.TrackSubscribed, (track, publication) => {
      if (track.kind !== Track.Kind.Audio) return;
      // Every participant may subscribe to every track: play only the agent's track for us.
      const name = publication.trackName;
      if (name.startsWith('tts-') && name !== `tts-${token.identity}`) return;
      const element = track.attach();
      element.muted = true;
      this.elements.push(element);
      engine.attachRemoteTrack(track.mediaStreamTrack);
    });
    room.on(RoomEvent.ConnectionStateChanged, (state) => {
      if (state === ConnectionState.Connected) events.onStatus('connected', `LiveKit room ${token.room}`);
      else if (state === ConnectionState.Reconnecting || state === ConnectionState.SignalReconnecting) events.onStatus('reconnecting', 'LiveKit');
      else if (state === ConnectionState.Disconnected) events.onStatus('disconnected', 'LiveKit');
    });
    await room.connect(token.url, token.token, { autoSubscribe: true });
    await room.startAudio();
    try {
      await engine.startMicrophone({ send: false, gate: initialGate() });
    } catch (err) {
      events.onMicrophoneError(microphoneErrorMessage(err));
      return;
    }
    const mic = engine.gatedMicTrack();
    if (mic) await room.localParticipant.publishTrack(mic, { source: Track.Source.Microphone, dtx: false, red: false, name: 'microphone' });
  }

  send(message: ClientMessage): void {
    void this.room?.localParticipant.publishData(this.encoder.encode(JSON.stringify(message)), { reliable: true, topic: DATA_TOPIC });
  }

  close(): void {
    for (const el of this.elements) el.remove();
    void this.room?.disconnect();
  }
}
