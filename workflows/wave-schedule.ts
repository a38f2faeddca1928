// The migration's wave scheduling rules, as pure functions of the run's namespace states: which
// namespaces a wave launches, when the run must stop launching, when the failure budget is spent.
// The migration workflow owns the loop that starts child workflows; these decide what it does.
import type { Plan } from '../plan/schema.js';
import type { NamespaceStatus, RollbackRequest } from './messages.js';
import type { NamespaceOutcome } from './namespace.js';

/**
 * What wave `waveIndex` launches: the pending namespaces of it and of every earlier wave (an earlier
 * namespace is pending again after a failure-budget `retry`), in the run's order.
 */
export function launchable(plan: Pick<Plan, 'waves'>, namespaces: readonly NamespaceStatus[], waveIndex: number): NamespaceStatus[] {
  const through = new Set(plan.waves.slice(0, waveIndex + 1).flatMap((w) => w.namespaces));
  return namespaces.filter((n) => through.has(n.name) && n.state === 'pending');
}

/** Whether a wave still has namespaces to move (a wave that continued as new runs again for them). */
export function wavePending(namespaces: readonly NamespaceStatus[], wave: string): boolean {
  return namespaces.some((n) => n.wave === wave && n.state === 'pending');
}

export type WaveStop = { kind: 'rollback'; why: string } | { kind: 'abort'; why: string };

/**
 * Whether the run stops launching after a namespace ended: someone asked the run to roll back, or an
 * operator decided inside that namespace to roll back or abort the whole run. The run's own request
 * comes first: it names who asked.
 */
export function stopAfter(outcome: NamespaceOutcome, rollbackRequest: RollbackRequest | null): WaveStop | null {
  if (rollbackRequest) return { kind: 'rollback', why: `rollback requested by ${rollbackRequest.by}: ${rollbackRequest.reason}` };
  if (outcome.outcome === 'rollback-requested') return { kind: 'rollback', why: outcome.reason };
  if (outcome.outcome === 'aborted') return { kind: 'abort', why: outcome.reason };
  return null;
}

/** A namespace just failed and the failed ones reach the plan's budget: the run pauses for a decision. */
export function budgetSpent(outcome: NamespaceOutcome, namespaces: readonly NamespaceStatus[], failureBudget: number): boolean {
  return outcome.outcome === 'failed' && namespaces.filter((n) => n.state === 'failed').length >= failureBudget;
}

/** The operator's question when the budget is spent: each failed namespace and why. */
export function failedNamespacesMessage(failed: readonly NamespaceStatus[]): string {
  return `${failed.length} namespace(s) failed and were moved back: ${failed.map((n) => `${n.name} (${n.error ?? 'failed'})`).join('; ')}. retry: move them again; skip: go on without them`;
}

/**
 * A wave's restart slots when it prepares namespaces ahead (wave.prepareAhead): at most `capacity`
 * of its launched namespaces may restart at once; the others wait, relabelled and CA-checked, and
 * get a slot in the order they were launched as restarting ones end.
 */
export class RestartSlots {
  private readonly holders = new Set<string>();
  private waiting: string[] = [];

  constructor(private readonly capacity: number) {}

  /** A namespace was launched: whether it holds a slot at once (else it waits for one). */
  launched(name: string): boolean {
    if (this.holders.size < this.capacity) {
      this.holders.add(name);
      return true;
    }
    this.waiting.push(name);
    return false;
  }

  /** A namespace's restart is over: if it held a slot, the waiting namespace the slot passes to. */
  freed(name: string): string | undefined {
    if (!this.holders.delete(name)) return undefined;
    const next = this.waiting.shift();
    if (next !== undefined) this.holders.add(next);
    return next;
  }

  /** A namespace's workflow ended (after its restart, or before it had one): as freed, and it waits no more. */
  ended(name: string): string | undefined {
    this.waiting = this.waiting.filter((n) => n !== name);
    return this.freed(name);
  }

  /** Every namespace still waiting, no longer waiting (the run stops launching restarts). */
  takeWaiting(): string[] {
    const all = this.waiting;
    this.waiting = [];
    return all;
  }
}
