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
