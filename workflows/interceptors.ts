// A workflow interceptor that counts the operator decisions the workflows handle (gate approve or
// reject, step retry/skip/rollback/abort, a run's rollback request), by Update or by Signal, and
// reports each one to the worker through the `meshmoveMetrics` sink (worker/metrics.ts renders
// meshmove_decisions_total). Sinks are not called on replay, so a decision is counted once, by the
// worker that handled it. Registered through the worker's interceptors (worker/worker.ts) and
// bundled with the workflows (worker/write-bundle.ts).
import {
  proxySinks,
  type Next,
  type SignalInput,
  type Sinks,
  type UpdateInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
} from '@temporalio/workflow';
import {
  gateDecisionSignal,
  gateDecisionUpdate,
  operatorDecisionSignal,
  operatorDecisionUpdate,
  rollbackSignal,
  rollbackUpdate,
} from './messages.js';

export interface DecisionMetric {
  message: 'gate' | 'step' | 'run';
  decision: string;
  via: 'update' | 'signal';
  outcome: 'accepted' | 'refused' | 'received';
}

export interface MeshmoveMetricsSinks extends Sinks {
  meshmoveMetrics: {
    decision(d: DecisionMetric): void;
  };
}

const { meshmoveMetrics } = proxySinks<MeshmoveMetricsSinks>();

/** Which decision a message carries; undefined for every other message. */
export function decisionOf(name: string, arg: unknown): Pick<DecisionMetric, 'message' | 'decision'> | undefined {
  const a = (arg ?? {}) as { verdict?: unknown; decision?: unknown };
  const known = (v: unknown, allowed: readonly string[]) => (typeof v === 'string' && allowed.includes(v) ? v : 'other');
  if (name === gateDecisionUpdate.name || name === gateDecisionSignal.name)
    return { message: 'gate', decision: known(a.verdict, ['approve', 'reject']) };
  if (name === operatorDecisionUpdate.name || name === operatorDecisionSignal.name)
    return { message: 'step', decision: known(a.decision, ['retry', 'skip', 'rollback', 'abort']) };
  if (name === rollbackUpdate.name || name === rollbackSignal.name) return { message: 'run', decision: 'rollback' };
  return undefined;
}

function report(d: DecisionMetric): void {
  try {
    meshmoveMetrics.decision(d);
  } catch {
    // metrics never change what the workflow does
  }
}

class DecisionCounter implements WorkflowInboundCallsInterceptor {
  async handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>): Promise<unknown> {
    const d = decisionOf(input.name, input.args[0]);
    if (!d) return next(input);
    try {
      const result = await next(input);
      report({ ...d, via: 'update', outcome: 'accepted' });
      return result;
    } catch (err) {
      report({ ...d, via: 'update', outcome: 'refused' });
      throw err;
    }
  }

  validateUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>): void {
    const d = decisionOf(input.name, input.args[0]);
    try {
      next(input);
    } catch (err) {
      if (d) report({ ...d, via: 'update', outcome: 'refused' });
      throw err;
    }
  }

  async handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>): Promise<void> {
    const d = decisionOf(input.signalName, input.args[0]);
    await next(input);
    if (d) report({ ...d, via: 'signal', outcome: 'received' });
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ inbound: [new DecisionCounter()] });
