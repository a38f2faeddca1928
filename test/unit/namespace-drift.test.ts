import { describe, expect, it } from 'vitest';
import { compareWithBackup, workloadView, type DriftInput } from '../../activities/namespace/drift.js';
import { PREVIOUS_LABELS_ANNOTATION } from '../../activities/namespace/labels.js';

const plan = {
  target: {
    revision: 'new',
    istiodNamespace: 'istio-new',
    discoveryLabels: { usergroup: 'new' },
    gateway: { namespace: 'g', service: 'g', selector: { a: 'b' } },
  },
};
const wl = (name: string, inject?: string) =>
  workloadView('Deployment', {
    metadata: { name },
    spec: { template: { metadata: { labels: inject ? { 'sidecar.istio.io/inject': inject } : {} } } },
  });
const base: DriftInput = {
  namespace: 'orders',
  backupLabels: { 'istio-injection': 'enabled', team: 'shop', 'kubernetes.io/metadata.name': 'orders' },
  currentLabels: { 'istio-injection': 'enabled', team: 'shop', 'kubernetes.io/metadata.name': 'orders' },
  currentAnnotations: {},
  backupWorkloads: [wl('web'), wl('api')],
  currentWorkloads: [wl('api'), wl('web')],
  migrationId: 'run1',
  plan,
};

describe('compareWithBackup', () => {
  const cases: Array<[string, Partial<DriftInput>, string[]]> = [
    ['unchanged', {}, []],
    [
      'label added by someone',
      { currentLabels: { ...base.currentLabels, owner: 'bob' } },
      ['namespace orders: label owner=bob was added since the backup'],
    ],
    [
      'label changed',
      { currentLabels: { ...base.currentLabels, team: 'pay' } },
      ['namespace orders: label team changed from shop to pay since the backup'],
    ],
    [
      'relabeled by another hand (no record of this run) is drift',
      { currentLabels: { team: 'shop', 'istio.io/rev': 'new', usergroup: 'new' } },
      [
        'namespace orders: label istio-injection=enabled was removed since the backup',
        'namespace orders: label istio.io/rev=new was added since the backup',
        'namespace orders: label usergroup=new was added since the backup',
      ],
    ],
    [
      'relabeled by this run (rerun) is not drift',
      {
        currentLabels: { team: 'shop', 'istio.io/rev': 'new', usergroup: 'new' },
        currentAnnotations: { [PREVIOUS_LABELS_ANNOTATION]: JSON.stringify({ run1: { 'istio-injection': 'enabled' } }) },
      },
      [],
    ],
    [
      'workload deleted and created',
      { currentWorkloads: [wl('web'), wl('batch')] },
      [
        'Deployment/api was deleted since the backup',
        'Deployment/batch was created since the backup (it will be restarted like the others)',
      ],
    ],
    [
      'workload opted out of injection',
      { currentWorkloads: [wl('web', 'false'), wl('api')] },
      ['Deployment/web: pod template label sidecar.istio.io/inject changed from (absent) to false since the backup'],
    ],
  ];
  for (const [name, change, details] of cases) {
    it(name, () => {
      const r = compareWithBackup({ ...base, ...change });
      expect(r.details).toEqual(details);
      expect(r.drifted).toBe(details.length > 0);
    });
  }
});
