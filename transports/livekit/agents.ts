/**
 * The orchestrator's agents, one per LiveKit room that has (or expects) a user. The token
 * endpoint calls `ensure(room, identity)`: the agent joins the room if it is not there yet, and
 * waits for that identity. Any number of rooms at once.
 */
import type { ProtocolLimits } from '../websocket/protocol.js';
import { AgentRoom, type AgentLogger, type LiveKitSessionFactory } from './agent-room.js';
import type { LiveKitSettings } from './settings.js';
import { agentToken } from './token.js';

export interface LiveKitAgentsOptions {
  settings: LiveKitSettings;
  sessionFactory: LiveKitSessionFactory;
  log: AgentLogger;
  limits?: Partial<ProtocolLimits>;
}

export class LiveKitAgents {
  private readonly rooms = new Map<string, { agent: AgentRoom; joined: Promise<void> }>();
  private closing = false;

  constructor(private readonly opts: LiveKitAgentsOptions) {}

  /** Rooms with an agent in them (or joining). */
  get roomNames(): string[] {
    return [...this.rooms.keys()];
  }

  /** The agent of `room`, if one is there. */
  agent(room: string): AgentRoom | undefined {
    return this.rooms.get(room)?.agent;
  }

  /** Puts an agent in `room` (joining if needed) that waits for `identity`. Rejects if it cannot join. */
  async ensure(room: string, identity: string): Promise<void> {
    if (this.closing) throw new Error('the orchestrator is shutting down');
    let entry = this.rooms.get(room);
    if (!entry || entry.agent.isClosed) {
      const { settings } = this.opts;
      const token = await agentToken({ apiKey: settings.apiKey, apiSecret: settings.apiSecret }, room, settings.agentIdentity);
      const agent: AgentRoom = new AgentRoom({
        room,
        url: settings.url,
        token,
        agentIdentity: settings.agentIdentity,
        idleTimeoutMs: settings.idleTimeoutMs,
        sessionFactory: this.opts.sessionFactory,
        ...(this.opts.limits && { limits: this.opts.limits }),
        log: this.opts.log,
        onClosed: (gone) => {
          if (this.rooms.get(room)?.agent === gone) this.rooms.delete(room);
        },
      });
      const joined = agent.join();
      entry = { agent, joined };
      this.rooms.set(room, entry);
      joined.catch(() => {
        if (this.rooms.get(room)?.agent === agent) this.rooms.delete(room);
      });
    }
    await entry.joined;
    entry.agent.expect(identity);
  }

  /** Every agent says `session_end` (`server_shutdown`) to its users and leaves. */
  async close(reason = 'server_shutdown'): Promise<void> {
    this.closing = true;
    const entries = [...this.rooms.values()];
    await Promise.all(entries.map(async (e) => e.joined.then(() => e.agent.close(reason), () => undefined)));
    this.rooms.clear();
  }
}
