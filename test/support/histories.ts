// Histories for replay: every recorded run is replayed at once against the current workflow code,
// and with MESHMOVE_RECORD_HISTORIES=1 it is written to test/fixtures/histories/ so that CI replays
// it against every later version of the code (a non-deterministic change then fails CI).
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from './temporal.js';

export const HISTORY_DIR = fileURLToPath(new URL('../fixtures/histories/', import.meta.url));

export async function recordHistory(client: Client, workflowId: string, name: string): Promise<void> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
  if (process.env.MESHMOVE_RECORD_HISTORIES === '1') {
    // The workflow id is part of the replayed state (gate digests include it): keep it with the history.
    await writeFile(`${HISTORY_DIR}${name}.json`, `{"workflowId":${JSON.stringify(workflowId)},"history":${historyToJSON(history)}}\n`);
  }
}

type History = Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>;

/** An event's time in ms since the epoch. */
export const eventMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);

/** When a workflow's first `activityType` started and completed, by the server's clock, from its history. */
export function activitySpan(history: History, activityType: string): { startedMs: number; completedMs: number } {
  const events = history.events ?? [];
  const scheduled = events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType);
  if (!scheduled) throw new Error(`no ${activityType} activity in this history`);
  const of = (e: (typeof events)[number]) =>
    (e.activityTaskStartedEventAttributes ?? e.activityTaskCompletedEventAttributes)?.scheduledEventId?.toString();
  const id = scheduled.eventId?.toString();
  const started = events.find((e) => e.activityTaskStartedEventAttributes && of(e) === id);
  const completed = events.find((e) => e.activityTaskCompletedEventAttributes && of(e) === id);
  if (!started || !completed) throw new Error(`${activityType} did not complete in this history`);
  return { startedMs: eventMs(started.eventTime), completedMs: eventMs(completed.eventTime) };
}

/** The names of the signals a workflow was sent, in order, from its history. */
export function signalNames(history: History): string[] {
  return (history.events ?? []).flatMap((e) => e.workflowExecutionSignaledEventAttributes?.signalName ?? []);
}

/**
 * The children a run sent `signalName` to before the server had started them, from the run's
 * history (each such signal fails: the workflow is not found yet).
 */
export function signalledBeforeStarted(history: History, signalName: string): string[] {
  const started = new Set<string>();
  const early: string[] = [];
  for (const e of history.events ?? []) {
    const childStarted = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    if (childStarted) started.add(childStarted);
    const signal = e.signalExternalWorkflowExecutionInitiatedEventAttributes;
    const to = signal?.workflowExecution?.workflowId;
    if (signal?.signalName === signalName && to && !started.has(to)) early.push(to);
  }
  return early;
}
