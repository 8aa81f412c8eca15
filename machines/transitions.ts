/**
 * The transitions of a machine, computed from the machine itself (its state-node tree), so a
 * coverage check cannot drift from the machine it checks.
 *
 * Every state node's `transitions` map holds its `on` transitions and its `after` (delayed)
 * transitions, whose event is XState's `xstate.after.<delay>.<stateNodeId>`; `always`
 * (eventless) transitions are collected too. Initial transitions are not counted: they are
 * part of entering a state, not a transition the machine can choose.
 *
 * Each transition is identified by `source state path + event + target (+ guard)`, e.g.
 * `BARGED_IN --VAD.SPEECH_END [policyResumes]--> SPEAKING`. `transitionId` gives the same id
 * for a live `TransitionDefinition` (from `getTransitionData` or an `@xstate.microstep`
 * inspection event), which is how coverage is measured.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

export interface MachineTransition {
  /** Unique, stable id: `source --event [guard]--> target`. */
  id: string;
  /** Dotted path of the state node that owns the transition (`(machine)` for the root). */
  source: string;
  /** The event type as the machine sees it (`xstate.after.*` for delayed, `` for always). */
  eventType: string;
  /** Human label: the event type, `after(<delay>)` or `always`. */
  event: string;
  /** Named delay or milliseconds, for `after` transitions. */
  delay?: string | number;
  /** Dotted target paths; empty for a targetless transition. */
  targets: string[];
  /** Guard name (`and(a, b)` / `not(a)` / `isCommand(STOP)`), or null if unguarded. */
  guard: string | null;
  /** Action names in execution order. */
  actions: string[];
  reenter: boolean;
}

export function statePath(node: AnyStateNode): string {
  return node.path.length ? node.path.join('.') : '(machine)';
}

/** Readable name of a guard: named, parameterised, or built from `and` / `or` / `not`. */
export function guardName(guard: unknown): string | null {
  if (guard === undefined || guard === null) return null;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const composite = guard as { name?: string; guards?: unknown[] };
    if (Array.isArray(composite.guards)) {
      return `${composite.name ?? 'guard'}(${composite.guards.map((g) => guardName(g) ?? '?').join(', ')})`;
    }
    return composite.name ? `inline:${composite.name}` : 'inline';
  }
  if (typeof guard === 'object' && 'type' in guard) {
    const { type, params } = guard as { type: string; params?: unknown };
    if (params === undefined) return type;
    if (typeof params === 'function') return `${type}(…)`;
    const values = typeof params === 'object' && params ? Object.values(params) : [params];
    return `${type}(${values.map((v) => String(v)).join(', ')})`;
  }
  return String(guard);
}

function actionName(action: unknown): string {
  if (typeof action === 'string') return action;
  if (typeof action === 'function') {
    const fn = action as { type?: string; name?: string };
    return fn.type ?? (fn.name || 'inline');
  }
  if (action && typeof action === 'object' && 'type' in action) {
    return String((action as { type: unknown }).type);
  }
  return String(action);
}

function eventLabel(def: AnyTransitionDefinition): string {
  const delay = (def as { delay?: string | number }).delay;
  if (delay !== undefined) return `after(${delay})`;
  return def.eventType === '' ? 'always' : def.eventType;
}

function baseId(def: AnyTransitionDefinition): string {
  const guard = guardName(def.guard);
  const targets = (def.target ?? []).map((t) => statePath(t));
  return `${statePath(def.source)} --${eventLabel(def)}${guard ? ` [${guard}]` : ''}--> ${
    targets.length ? targets.join(', ') : '(no target)'
  }`;
}

/** Every transition definition of `node` and its descendants, in document order. */
function collectDefinitions(node: AnyStateNode): AnyTransitionDefinition[] {
  const own: AnyTransitionDefinition[] = [];
  for (const defs of node.transitions.values()) own.push(...defs);
  if (node.always) own.push(...node.always);
  return [...own, ...Object.values(node.states).flatMap((child) => collectDefinitions(child))];
}

interface Index {
  byDefinitionKey: Map<string, MachineTransition[]>;
  all: MachineTransition[];
}

const indexCache = new WeakMap<AnyStateNode, Index>();

/**
 * Definitions are matched by their base id plus their position among definitions with the same
 * base id, so two transitions that differ only in, say, inline guards stay distinct.
 */
function buildIndex(machine: AnyStateMachine): Index {
  const cached = indexCache.get(machine.root);
  if (cached) return cached;
  const definitions = collectDefinitions(machine.root);
  const seen = new Map<string, number>();
  const byDefinitionKey = new Map<string, MachineTransition[]>();
  const all = definitions.map((def) => {
    const base = baseId(def);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    const delay = (def as { delay?: string | number }).delay;
    const transition: MachineTransition = {
      id: n === 0 ? base : `${base} #${n + 1}`,
      source: statePath(def.source),
      eventType: def.eventType,
      event: eventLabel(def),
      ...(delay !== undefined ? { delay } : {}),
      targets: (def.target ?? []).map((t) => statePath(t)),
      guard: guardName(def.guard),
      actions: def.actions.map(actionName),
      reenter: def.reenter,
    };
    const list = byDefinitionKey.get(base) ?? [];
    list.push(transition);
    byDefinitionKey.set(base, list);
    return transition;
  });
  const index = { byDefinitionKey, all };
  indexCache.set(machine.root, index);
  return index;
}

/** All transitions of `machine`, computed from its state nodes. */
export function listTransitions(machine: AnyStateMachine): MachineTransition[] {
  return buildIndex(machine).all;
}

/**
 * The id of a live transition definition of `machine` (e.g. from an `@xstate.microstep`
 * inspection event), or null for one that is not in the table (initial transitions).
 */
export function transitionId(machine: AnyStateMachine, def: AnyTransitionDefinition): string | null {
  const candidates = buildIndex(machine).byDefinitionKey.get(baseId(def));
  if (!candidates?.length) return null;
  if (candidates.length === 1) return candidates[0]!.id;
  // Same base id more than once: disambiguate by position in the owning node's list.
  const siblings = collectDefinitions(def.source).filter(
    (d) => d.source === def.source && baseId(d) === baseId(def),
  );
  const position = siblings.indexOf(def);
  return candidates.filter((c) => c.source === statePath(def.source))[position]?.id ?? null;
}

/** The transitions `event` would take from `snapshot` (at most one in this machine). */
export function enabledTransitionIds(
  machine: AnyStateMachine,
  snapshot: Parameters<AnyStateMachine['getTransitionData']>[0],
  event: Parameters<AnyStateMachine['getTransitionData']>[1],
): string[] {
  return machine
    .getTransitionData(snapshot, event)
    .map((def) => transitionId(machine, def))
    .filter((id): id is string => id !== null);
}

/** A plain-text table of the transitions (for reports and the `paths` script). */
export function formatTransitionTable(transitions: readonly MachineTransition[]): string {
  const rows = transitions.map((t) => [
    t.source,
    t.event,
    t.guard ?? '',
    t.targets.join(', ') || '(no target)',
    t.actions.join(', '),
  ]);
  const header = ['from', 'event', 'guard', 'to', 'actions'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
