// createActivities wiring: every activity of the contract is there, the cluster access is chosen by
// the plan's kubeconfig context (one client per context), and preflight runs through it.
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import type { ActivityName } from '../../activities/contract.js';
import { partialKubeAccess } from '../../activities/kube/index.js';
import { fieldReportPlan } from './preflight-twin-fixture.js';

const ALL: (ActivityName | 'notify')[] = [
  'notify',
  'preflight',
  'backup',
  'driftCheck',
  'relabelNamespace',
  'restoreNamespaceLabels',
  'waitCaReady',
  'restartWorkloads',
  'verifyProxies',
  'verifyTraffic',
  'explainInjection',
  'checkGatewayStable',
  'switchDns',
  'verifyDns',
  'relabelGateway',
  'verifyGateway',
  'pointTag',
  'unpinTagNamespaces',
  'trafficBaseline',
  'resolveWaves',
  'checkNamespaceTraffic',
  'awaitGatewayShift',
  'awaitGatewayDrained',
  'verifyMesh',
  'decommission',
];

describe('createActivities', () => {
  it('provides every activity of the contract', () => {
    const acts = createActivities({ kube: partialKubeAccess({}) });
    expect(Object.keys(acts).sort()).toEqual([...ALL].sort());
  });

  it('builds one KubeAccess per plan context and runs preflight through it (a failing fetch is a block, not a crash)', async () => {
    const contexts: (string | undefined)[] = [];
    const acts = createActivities({
      kube: (ctx) => {
        contexts.push(ctx);
        // Every call fails as RBAC would: the report must say so per check.
        return partialKubeAccess({}, ctx ?? 'current');
      },
    });
    const plan = fieldReportPlan();
    const r1 = await acts.preflight({ plan, migrationId: 'r' });
    await acts.preflight({ plan, migrationId: 'r' });
    await acts.preflight({
      plan: fieldReportPlan((p) => {
        p.cluster.context = 'other';
      }),
      migrationId: 'r',
    });
    expect(contexts).toEqual(['meshmove-twin', 'other']);
    expect(r1.blocking).toBeGreaterThanOrEqual(5);
    expect(r1.findings.find((f) => f.check === 'target')?.reason).toMatch(/could not run: fake KubeAccess: getWorkload was called/);
  });
});
