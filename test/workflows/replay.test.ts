// Replay of recorded histories (test/fixtures/histories/) against the current workflow code: a change
// that would break runs already in flight (a migration lasts days) fails here. Record new ones with
// MESHMOVE_RECORD_HISTORIES=1 npx vitest run test/workflows/engine.test.ts; change workflow code
// compatibly with patched() when a fixture stops replaying.
import { describe, expect, it } from 'vitest';
import { readdir, readFile } from 'node:fs/promises';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { HISTORY_DIR } from '../support/histories.js';
import { workflowBundle } from '../support/temporal.js';
import { installRuntime } from '../../worker/worker.js';

describe('replay', () => {
  it('every recorded history replays against the current workflow code', async () => {
    installRuntime();
    const files = (await readdir(HISTORY_DIR)).filter((f) => f.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThanOrEqual(6);
    const histories = await Promise.all(
      files.map(async (f) => {
        const { workflowId, history } = JSON.parse(await readFile(`${HISTORY_DIR}${f}`, 'utf8')) as {
          workflowId: string;
          history: unknown;
        };
        return { workflowId, history: historyFromJSON(history) };
      }),
    );
    const failures: string[] = [];
    let replayed = 0;
    for await (const result of Worker.runReplayHistories({ workflowBundle: await workflowBundle() }, histories)) {
      replayed += 1;
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed).toBe(files.length);
  });
});
