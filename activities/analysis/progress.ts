// What an analysis wait keeps in its heartbeat (so a resumed attempt keeps its window and deadline)
// and how a person reads it while the step runs (`meshmove status`). Pure.
import { promDuration } from '../../mesh/traffic-queries.js';
import { perSecond, type DrainState } from './judge.js';

export interface WindowProgress {
  phase: 'namespace-window';
  since: number;
}

export interface ShiftProgress {
  phase: 'gateway-shift';
  deadline: number;
  last?: string;
}

export interface DrainProgress extends DrainState {
  phase: 'gateway-drain';
  deadline: number;
  /** The window of zeros needed. */
  window?: number;
}

/** A line for an analysis wait in progress, from its heartbeat details; undefined for any other activity's. */
export function describeWaitProgress(details: unknown, now: number): string | undefined {
  if (details === null || typeof details !== 'object') return undefined;
  const d = details as { phase?: unknown; deadline?: number; zeroSince?: number; last?: number | string; window?: number; since?: number };
  const left = (deadline: number | undefined) =>
    deadline === undefined ? '' : `; gives up in ${promDuration(Math.max(0, deadline - now))}`;
  switch (d.phase) {
    case 'gateway-drain':
      if (d.zeroSince !== undefined)
        return `old gateway at 0 req/s for ${promDuration(now - d.zeroSince)}${d.window ? ` of ${promDuration(d.window)}` : ''}${left(d.deadline)}`;
      return `old gateway ${typeof d.last === 'number' ? `still at ${perSecond(d.last)}` : 'not measured yet'}${left(d.deadline)}`;
    case 'gateway-shift':
      return `${typeof d.last === 'string' ? d.last : 'waiting for the first answer'}${left(d.deadline)}`;
    case 'namespace-window':
      return d.since !== undefined ? `measuring the error rate after the move for ${promDuration(now - d.since)}` : undefined;
    default:
      return undefined;
  }
}
