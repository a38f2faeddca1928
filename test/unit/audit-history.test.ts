// `meshmove audit verify` on a history without its wrapper's workflowId names the workflow from the
// start event's input: a namespace's child, recorded before the migration id was renamed from
// `runId` to `migrationId`, is still named `<migration>/ns/<namespace>`.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { verifyHistory } from '../../client/audit.js';
import { HISTORY_DIR } from '../support/histories.js';

describe('verifyHistory names the workflow from its input', () => {
  it('a namespace child recorded with runId in its input', () => {
    const recorded = JSON.parse(readFileSync(`${HISTORY_DIR}happy-path-namespace.json`, 'utf8')) as {
      workflowId: string;
      history: unknown;
    };
    expect(JSON.stringify(recorded.history)).toContain('runId');
    expect(verifyHistory({ history: recorded.history }).workflowId).toBe(recorded.workflowId);
  });
});
