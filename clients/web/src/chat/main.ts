/** The chat page: start button, text chat with history, meters, state and connection status. */
import '../styles.css';
import type { ServerMessage, VoiceInfo } from '../shared/messages.js';
import { fetchClientConfig } from './config.js';
import { installHooks } from './hooks.js';
import { ChatSession, type TextRecord } from './session.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const startButton = $<HTMLButtonElement>('start');
const startHint = $<HTMLParagraphElement>('start-hint');
const connection = $<HTMLSpanElement>('connection');
const stateEl = $<HTMLSpanElement>('state');
const history = $<HTMLOListElement>('history');
const composer = $<HTMLFormElement>('composer');
const textInput = $<HTMLInputElement>('text');
const micMeter = $<HTMLMeterElement>('mic-level');
const outMeter = $<HTMLMeterElement>('out-level');
const vad = $<HTMLSpanElement>('vad');
const voicePicker = $<HTMLSelectElement>('voice');

let session: ChatSession | undefined;
const hooks = installHooks(() => session);
const items = new Map<TextRecord, HTMLLIElement>();

function addItem(kind: 'user' | 'system' | 'error', text: string): HTMLLIElement {
  const li = document.createElement('li');
  li.className = kind;
  const body = document.createElement('span');
  body.className = 'body';
  body.textContent = text;
  li.append(body);
  history.append(li);
  history.scrollTop = history.scrollHeight;
  return li;
}

function describe(r: TextRecord): string {
  const parts: string[] = [];
  // LiveKit mode sees no frames: its first audio is the analyser's, and the length is unknown.
  const first = r.firstFrameAt ?? r.firstAudibleAt;
  if (first === undefined) parts.push(r.stoppedAt !== undefined ? '■ stopped before it was spoken' : r.sentIn === 'LISTENING' ? 'waiting for audio…' : 'queued');
  else {
    const seconds = r.frames > 0 ? `${((r.frames * 20) / 1000).toFixed(1)} s` : undefined;
    if (r.stoppedAt !== undefined) parts.push(seconds ? `■ stopped after ${seconds}` : '■ stopped');
    else parts.push(r.doneAt === undefined ? '▶ speaking…' : seconds ? `✓ spoken, ${seconds}` : '✓ spoken');
    // A queued text's wait for the reply before it is no latency.
    if (r.sentIn === 'LISTENING' || r.sentIn === 'BARGED_IN') parts.push(`first audio ${Math.round(first - r.sentAt)} ms`);
  }
  return parts.join(' · ');
}

function updateItem(r: TextRecord): void {
  const li = items.get(r);
  if (!li) return;
  let meta = li.querySelector<HTMLSpanElement>('.meta');
  if (!meta) {
    meta = document.createElement('span');
    meta.className = 'meta';
    li.append(meta);
  }
  meta.textContent = describe(r);
}

let lastState = '';

/** The states in which each control means something; none while not connected. */
const CONTROL_STATES: Record<string, readonly string[]> = {
  PAUSE: ['SPEAKING'],
  RESUME: ['PAUSED'],
  STOP: ['SPEAKING', 'PAUSED', 'BARGED_IN'],
};
const controlButtons = [...document.querySelectorAll<HTMLButtonElement>('.controls button[data-command]')];

function updateControls(): void {
  const live = hooks.connection === 'connected';
  for (const button of controlButtons) button.disabled = !live || !(CONTROL_STATES[button.dataset.command ?? ''] ?? []).includes(lastState);
}

function showState(state: string): void {
  stateEl.textContent = state;
  stateEl.dataset.state = state;
  updateControls();
}

function onMessage(m: ServerMessage): void {
  if (m.type === 'state') {
    if (m.state === 'BARGED_IN') addItem('system', 'You talked over the voice: it stopped at once.');
    else if (lastState === 'BARGED_IN' && m.state === 'SPEAKING') addItem('system', 'Resumed where it paused.');
    else if (lastState === 'BARGED_IN' && m.state === 'LISTENING') addItem('system', 'Stopped; the rest was dropped.');
    lastState = m.state;
    showState(m.state);
  } else if (m.type === 'vad') {
    vad.dataset.speech = String(m.speech);
  } else if (m.type === 'error') {
    addItem('error', `${m.code}: ${m.message}`);
  } else if (m.type === 'voices') {
    showVoices(m.voices, m.current);
  } else if (m.type === 'session_start') {
    $('session').textContent = `session: ${m.session_id}`;
  } else if (m.type === 'session_end') {
    addItem('system', `Session ended (${m.reason}).`);
  }
}

/** The picker lists the workers' voices, the session's own selected (the server's word for it). */
function showVoices(voices: VoiceInfo[], current: string): void {
  const ids = voices.some((v) => v.id === current) ? voices : [{ id: current, language: '', loaded: true }, ...voices];
  voicePicker.replaceChildren(
    ...ids.map((v) => {
      const option = document.createElement('option');
      option.value = v.id;
      option.textContent = v.language ? `${v.id} (${v.language})` : v.id;
      return option;
    }),
  );
  voicePicker.value = current;
  voicePicker.disabled = ids.length < 2;
  voicePicker.title = ids.length < 2 ? 'The workers offer one voice' : '';
}

voicePicker.addEventListener('change', () => {
  if (!session) return;
  session.switchVoice(voicePicker.value);
  addItem('system', `Voice: ${voicePicker.value}, from the next reply.`);
  // The list comes back with the voice the session has once the switch is taken or refused.
  session.requestVoices();
});

async function start(): Promise<void> {
  startButton.disabled = true;
  startHint.textContent = 'Connecting…';
  try {
    const config = await fetchClientConfig();
    hooks.mode = config.livekit ? 'livekit' : 'websocket';
    $('mode').textContent = `transport: ${config.livekit ? 'LiveKit (WebRTC)' : 'WebSocket'}`;
    session = await ChatSession.start(config, {
      onStatus: (status, detail) => {
        hooks.connection = status;
        connection.dataset.status = status;
        connection.textContent = status;
        connection.title = detail ?? '';
        updateControls();
      },
      onMessage,
      onTextUpdate: updateItem,
      onMicrophoneError: (message) => {
        hooks.error = `microphone: ${message}`;
        addItem('error', `No microphone: ${message}. You can still type; talking over the voice will not interrupt it.`);
      },
    });
    session.requestVoices();
    $('start-panel').hidden = true;
    $('chat-panel').hidden = false;
    textInput.focus();
    window.setInterval(() => {
      if (!session) return;
      micMeter.value = Math.max(-70, session.engine.micLevel());
      outMeter.value = Math.max(-70, session.engine.outputLevel());
    }, 50);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    hooks.error = message;
    startButton.disabled = false;
    startHint.textContent = `Could not start: ${message}`;
    connection.dataset.status = 'failed';
    connection.textContent = 'failed';
  }
}

startButton.addEventListener('click', () => void start());

function submitText(text: string): void {
  if (!text || !session) return;
  const li = addItem('user', text);
  const record = session.sendText(text);
  items.set(record, li);
  updateItem(record);
}
hooks.send = submitText;

composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = textInput.value.trim();
  textInput.value = '';
  submitText(text);
});

for (const button of controlButtons) {
  button.addEventListener('click', () => session?.control(button.dataset.command as 'PAUSE' | 'RESUME' | 'STOP'));
}
