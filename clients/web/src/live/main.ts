/**
 * Live session view: the session machine drawn from the machine itself (build time), every live
 * session of the orchestrator listed with its current state, the selected one highlighted on
 * the diagram as it changes, and its event log. Fed by the orchestrator's inspection hub
 * (ws://<this host>/inspect) and `GET /sessions`; needs nothing from the internet.
 */
import '../styles.css';
import graph from 'virtual:session-graph';
import { MachineDiagram } from './diagram.js';
import { LiveSessions, type InspectionMessage, type LiveSession, type SessionsRow } from './sessions.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const model = new LiveSessions();
const diagram = new MachineDiagram(graph);
$('diagram').append(diagram.svg);
const list = $<HTMLUListElement>('sessions');
const logBody = $<HTMLTableElement>('log').tBodies[0] as HTMLTableSectionElement;
const hubPill = $<HTMLSpanElement>('hub');

/** The session shown on the diagram: chosen by click or `#<session id>`, else the newest live one. */
let selected: string | null = null;
let pinned = false;

const hubUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/inspect`;
$('hub-url').textContent = hubUrl;
$<HTMLAnchorElement>('stately').href = `https://stately.ai/inspect?server=${encodeURIComponent(hubUrl)}`;

function shortId(s: LiveSession): string {
  return s.sessionId ? s.sessionId.slice(0, 8) : s.actorId;
}

function clientLabel(path: string): string {
  if (path === 'SPEAKING.paused') return 'PAUSED';
  return path.split('.')[0] ?? path;
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hour12: false } as Intl.DateTimeFormatOptions);

function pickSelected(): LiveSession | undefined {
  const all = model.list();
  const hash = decodeURIComponent(location.hash.slice(1));
  if (hash) {
    const byHash = all.find((s) => s.sessionId === hash || s.actorId === hash);
    if (byHash) {
      selected = byHash.actorId;
      pinned = true;
    }
  }
  const current = selected ? model.sessions.get(selected) : undefined;
  if (current && (pinned || !current.ended)) return current;
  const next = all.find((s) => !s.ended) ?? all[0];
  selected = next?.actorId ?? null;
  return next;
}

function render(): void {
  const all = model.list();
  const chosen = pickSelected();
  $('count').textContent = String(all.filter((s) => !s.ended).length);
  list.replaceChildren(
    ...(all.length
      ? all.map((s) => {
          const li = document.createElement('li');
          li.className = `session${s.ended ? ' ended' : ''}${s.actorId === chosen?.actorId ? ' selected' : ''}`;
          li.dataset.actor = s.actorId;
          const name = document.createElement('span');
          name.className = 'name';
          name.textContent = shortId(s);
          name.title = `session ${s.sessionId ?? '(unknown)'} · actor ${s.actorId}`;
          const badge = document.createElement('span');
          badge.className = 'pill state';
          badge.dataset.state = s.ended ? 'TERMINATED' : clientLabel(s.state);
          badge.textContent = s.ended ? 'ended' : clientLabel(s.state) || '…';
          const last = document.createElement('span');
          last.className = 'muted small';
          last.textContent = s.last ? `${s.last.event}` : '';
          li.append(name, badge, last);
          li.addEventListener('click', () => {
            selected = s.actorId;
            pinned = true;
            history.replaceState(null, '', `#${s.sessionId ?? s.actorId}`);
            render();
          });
          return li;
        })
      : [Object.assign(document.createElement('li'), { className: 'empty', textContent: 'No session yet. Start a voice chat in another tab.' })]),
  );
  diagram.highlight(chosen && !chosen.ended ? chosen.state : chosen ? 'TERMINATED' : null, chosen?.last ?? null);
  $('diagram-title').textContent = chosen ? `session ${chosen.sessionId ?? chosen.actorId} — ${chosen.ended ? 'ended' : clientLabel(chosen.state)}` : 'session machine';
  $('log-title').textContent = chosen ? shortId(chosen) : '';
  const rows = (chosen?.log ?? []).slice(-150).reverse();
  logBody.replaceChildren(
    ...rows.map((e) => {
      const tr = document.createElement('tr');
      tr.className = e.kind;
      for (const text of [timeFmt.format(e.at), e.kind === 'state' ? `→ ${e.type}` : e.type, e.detail]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }),
  );
}

let pending = false;
function scheduleRender(): void {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    render();
  });
}

async function pollSessions(): Promise<void> {
  try {
    const res = await fetch('sessions');
    if (res.ok) {
      model.applySessions((await res.json()) as SessionsRow[]);
      scheduleRender();
    }
  } catch {
    // the orchestrator is restarting: the hub's status says so
  }
}

let attempt = 0;
function connectHub(): void {
  hubPill.dataset.status = attempt ? 'reconnecting' : 'connecting';
  hubPill.textContent = attempt ? 'reconnecting' : 'connecting';
  const ws = new WebSocket(hubUrl);
  ws.onopen = () => {
    attempt = 0;
    hubPill.dataset.status = 'connected';
    hubPill.textContent = 'live';
    void pollSessions();
  };
  ws.onmessage = (e: MessageEvent<string>) => {
    if (typeof e.data !== 'string') return;
    let m: InspectionMessage;
    try {
      m = JSON.parse(e.data) as InspectionMessage;
    } catch {
      return;
    }
    const changed = model.apply(m);
    // A session the view has not named yet: ask the orchestrator for its transport id.
    if (changed && model.sessions.get(changed)?.sessionId === null && m.type === '@xstate.actor') void pollSessions();
    if (changed) scheduleRender();
  };
  ws.onclose = () => {
    attempt += 1;
    hubPill.dataset.status = 'disconnected';
    hubPill.textContent = 'disconnected';
    setTimeout(connectHub, Math.min(10_000, 500 * 2 ** Math.min(attempt, 5)));
  };
}

window.addEventListener('hashchange', () => {
  pinned = false;
  render();
});
connectHub();
window.setInterval(() => void pollSessions(), 3000);
render();

declare global {
  interface Window {
    __live: { model: LiveSessions; selected(): string | null };
  }
}
window.__live = { model, selected: () => selected };
