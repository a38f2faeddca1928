// Activities mocked at the activity boundary, for testing workflow logic: a tiny in-memory model of
// the cluster (namespace labels, DNS) that records every call and can be told to fail.
import { ApplicationFailure } from '@temporalio/common';
import type { MigrationActivities } from '../../activities/contract.js';
import { resolveWaveSelection } from '../../activities/waves/resolve.js';
import { istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import { validatePlan } from '../../plan/load.js';
import type { Plan, PlanInput } from '../../plan/schema.js';

export class FakeCluster {
  /** Every call, e.g. `relabelNamespace frontend`. */
  readonly calls: string[] = [];
  /** What checkNamespaceTraffic was given as each namespace's baseline. */
  readonly trafficBaselines = new Map<string, { requestRate: number; errorRatio?: number } | undefined>();
  /** `activity namespace?` → how many more calls fail (Infinity: until cleared). */
  readonly failures = new Map<string, number>();
  readonly labels = new Map<string, Record<string, string>>();
  dns = 'old-gateway';
  preflightBlocking = 0;
  /** Milliseconds a call of this activity takes (heartbeat-free; keep small). */
  readonly delays = new Map<string, number>();
  /** Changes really applied, by what they are keyed on: proof that nothing is applied twice. */
  readonly applied = new Map<string, number>();

  private apply(key: string): void {
    this.applied.set(key, (this.applied.get(key) ?? 0) + 1);
  }

  constructor(readonly plan: Plan) {
    for (const ns of plan.waves.flatMap((w) => w.namespaces)) this.labels.set(ns, { 'istio-injection': 'enabled', team: ns });
  }

  /** A namespace that no wave names (for `select` waves to find). */
  addNamespace(name: string, labels: Record<string, string> = { 'istio-injection': 'enabled', team: name }): void {
    this.labels.set(name, { ...labels });
  }

  failNext(activity: string, namespace?: string, times = Infinity): void {
    this.failures.set(namespace ? `${activity} ${namespace}` : activity, times);
  }

  fix(activity: string, namespace?: string): void {
    this.failures.delete(namespace ? `${activity} ${namespace}` : activity);
  }

  callsOf(activity: string): string[] {
    return this.calls.filter((c) => c.split(' ')[0] === activity);
  }

  /**
   * Each call's start (`+key`) and the end of its delay (`-key`), in order: what ran at the same
   * time. A restart's key ends with the revision it restarts onto.
   */
  readonly spans: string[] = [];

  /** The most calls of `activity` (onto `revision`, for restarts) between their start and the end of their delay at once. */
  mostAtOnce(activity: string, revision?: string): number {
    let now = 0;
    let most = 0;
    for (const e of this.spans) {
      const [a, , r] = e.slice(1).split(' ');
      if (a !== activity || (revision !== undefined && r !== revision)) continue;
      now += e.startsWith('+') ? 1 : -1;
      most = Math.max(most, now);
    }
    return most;
  }

  private async enter(activity: string, namespace?: string, revision?: string): Promise<void> {
    const key = namespace ? `${activity} ${namespace}` : activity;
    this.calls.push(key);
    const span = revision ? `${key} ${revision}` : key;
    this.spans.push(`+${span}`);
    const delay = this.delays.get(activity);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    this.spans.push(`-${span}`);
    const left = this.failures.get(key) ?? this.failures.get(activity) ?? 0;
    if (left > 0) {
      this.failures.set(this.failures.has(key) ? key : activity, left - 1);
      throw ApplicationFailure.nonRetryable(`injected failure of ${key}`, 'CheckFailed');
    }
  }

  activities(): MigrationActivities {
    const plan = this.plan;
    return {
      resolveWaves: async ({ plan: p }) => {
        await this.enter('resolveWaves');
        // Decided from this fake's namespace labels, with the injectors the chart renders for both revisions.
        const webhooks = [p.source, p.target].map((cp) =>
          istioInjectorWebhookConfiguration(cp.revision, { isDefault: cp.revision === 'default', istiodNamespace: cp.istiodNamespace }),
        );
        return resolveWaveSelection(
          p,
          [...this.labels].map(([name, labels]) => ({ name, labels })),
          webhooks,
        );
      },
      preflight: async () => {
        await this.enter('preflight');
        return {
          findings: [
            { check: 'outbound-policy', status: 'pass', reason: 'ALLOW_ANY' },
            ...(this.preflightBlocking
              ? [{ check: 'root-ca', status: 'block' as const, reason: 'different roots', fix: 'plug in a shared CA' }]
              : []),
            { check: 'decommission-scope', status: 'pass', reason: 'would delete MutatingWebhookConfiguration/istio-sidecar-injector' },
          ],
          blocking: this.preflightBlocking,
          warnings: 0,
        };
      },
      backup: async () => {
        await this.enter('backup');
        return { location: '/tmp/backup', manifestDigest: 'ab'.repeat(32), objects: 12 };
      },
      driftCheck: async ({ namespace }) => {
        await this.enter('driftCheck', namespace);
        return { drifted: false, details: [] };
      },
      relabelNamespace: async ({ namespace }) => {
        await this.enter('relabelNamespace', namespace);
        const before = this.labels.get(namespace)!;
        const changed = before['istio.io/rev'] !== plan.target.revision;
        const next: Record<string, string> = { ...before, 'istio.io/rev': plan.target.revision, ...plan.target.discoveryLabels };
        delete next['istio-injection'];
        if (changed) {
          this.labels.set(namespace, next);
          this.apply(`relabel ${namespace}`);
        }
        return { previousLabels: changed ? before : { 'istio-injection': 'enabled', team: namespace }, changed };
      },
      restoreNamespaceLabels: async ({ namespace, labels }) => {
        await this.enter('restoreNamespaceLabels', namespace);
        this.labels.set(namespace, { ...labels });
        return { changed: true };
      },
      waitCaReady: async ({ namespace }) => {
        await this.enter('waitCaReady', namespace);
        return { root: 'sha256:target' };
      },
      restartWorkloads: async ({ namespace, expectRevision, key }) => {
        // Keyed like the real activity: a workload already restarted for this key is only waited for.
        const already = this.applied.has(`restart ${key}`);
        if (!already) this.apply(`restart ${key}`);
        await this.enter('restartWorkloads', namespace, expectRevision);
        return { workloads: [`Deployment/${namespace}-web@${expectRevision}`], alreadyRestarted: already ? 1 : 0 };
      },
      verifyProxies: async ({ namespace, revision }) => {
        await this.enter('verifyProxies', namespace);
        return { revision, pods: 2, synced: 2, problems: [] };
      },
      verifyTraffic: async ({ namespace }) => {
        await this.enter('verifyTraffic', namespace);
        return { probes: 1, failed: 0, failures: [] };
      },
      explainInjection: async ({ namespace }) => {
        await this.enter('explainInjection', namespace);
        return { injectors: [], message: 'no webhook of the target matches' };
      },
      checkGatewayStable: async () => {
        await this.enter('checkGatewayStable');
        return { address: 'new-gateway' };
      },
      switchDns: async ({ to }) => {
        await this.enter('switchDns');
        const address = to === 'target' ? 'new-gateway' : 'old-gateway';
        const changed = this.dns !== address;
        this.dns = address;
        return { provider: 'webhook', address, records: plan.dns!.records.map((r) => r.name), changed };
      },
      relabelGateway: async ({ plan: p, revision }) => {
        await this.enter('relabelGateway');
        return { where: 'template', previous: p.source.revision, changed: revision !== p.source.revision };
      },
      verifyGateway: async ({ plan: p }) => {
        await this.enter('verifyGateway');
        return { probes: p.verification.gateway.length, failed: 0, failures: [] };
      },
      pointTag: async ({ to }) => {
        await this.enter('pointTag');
        return { config: `tag-to-${to}`, changed: true };
      },
      unpinTagNamespaces: async () => {
        await this.enter('unpinTagNamespaces');
        return { unpinned: 0, sample: [] };
      },
      verifyDns: async ({ address }) => {
        await this.enter('verifyDns');
        if (this.dns !== address) throw ApplicationFailure.nonRetryable(`DNS answers ${this.dns}, not ${address}`, 'CheckFailed');
        return { resolved: [address] };
      },
      trafficBaseline: async ({ plan: p }) => {
        await this.enter('trafficBaseline');
        return {
          at: new Date(0).toISOString(),
          window: '300s',
          namespaces: Object.fromEntries(p.waves.flatMap((w) => w.namespaces).map((ns) => [ns, { requestRate: 1, errorRatio: 0 }])),
          quiet: [],
          sourceGateway: 2,
          queries: [],
        };
      },
      checkNamespaceTraffic: async ({ namespace, baseline }) => {
        await this.enter('checkNamespaceTraffic', namespace);
        this.trafficBaselines.set(namespace, baseline);
        return { namespace, errorRatio: baseline?.errorRatio ?? 0, requestRate: 1, summary: 'error rate 0.00%' };
      },
      awaitGatewayShift: async () => {
        await this.enter('awaitGatewayShift');
        return { target: 2, source: 0.5, summary: 'new gateway 2 req/s, old gateway 0.5 req/s' };
      },
      awaitGatewayDrained: async () => {
        await this.enter('awaitGatewayDrained');
        return { source: 0, summary: 'the old gateway has carried no request for 120s' };
      },
      verifyMesh: async ({ plan: p }) => {
        await this.enter('verifyMesh');
        const n = p.waves.flatMap((w) => w.namespaces).length;
        return { namespaces: n, onTarget: n, onSource: 0, errorIncreases: [], notes: [] };
      },
      decommission: async () => {
        await this.enter('decommission');
        return {
          deleted: ['MutatingWebhookConfiguration/istio-sidecar-injector'],
          backup: { location: '/tmp/backup/decommission', manifestDigest: 'cd'.repeat(32), objects: 4 },
        };
      },
    };
  }
}

/** A small valid plan for workflow tests; `overrides` are merged at the top level. */
export function testPlan(overrides: Partial<PlanInput> = {}): Plan {
  return validatePlan({
    apiVersion: 'meshmove.dev/v1alpha1',
    kind: 'MigrationPlan',
    metadata: { name: 'engine-test' },
    source: {
      revision: 'default',
      istiodNamespace: 'istio-system',
      gateway: { namespace: 'istio-system', service: 'istio-ingressgateway', selector: { istio: 'ingressgateway' } },
    },
    target: {
      revision: 'istio-1-16-5',
      istiodNamespace: 'istio-1-16-5',
      discoveryLabels: { usergroup: 'istio-1-16-5' },
      gateway: { namespace: 'istio-1-16-5', service: 'istio-ingressgateway', selector: { istio: 'oss-public-api-ingressgateway' } },
    },
    waves: [
      { name: 'canary', concurrency: 1, namespaces: ['inventory'] },
      { name: 'rest', concurrency: 2, namespaces: ['payments', 'orders', 'frontend'] },
    ],
    // The engine's flows with plain names; signed decisions are proven in test/workflows/signed-decisions.test.ts.
    identity: 'unverified',
    approvers: ['alice', 'bob', 'carol'],
    dns: {
      provider: { type: 'webhook', url: 'http://127.0.0.1:1/dns', secretEnv: 'DNS_SECRET' },
      resolvers: ['127.0.0.1:53'],
      ttl: '1s',
      stabilityWindow: '1s',
      records: [{ name: 'shop.y7test.com' }],
    },
    backup: { location: '/tmp/meshmove-test-backups' },
    ...overrides,
  });
}

/**
 * Activities that call, at call time, whatever `current()` returns: one worker for a test file, and
 * each test swaps in its own.
 */
export function dispatchTo(current: () => MigrationActivities): MigrationActivities {
  const names = Object.keys(new FakeCluster(testPlan()).activities());
  return Object.fromEntries(
    names.map((name) => [
      name,
      (...args: unknown[]) => (current() as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!(...args),
    ]),
  ) as unknown as MigrationActivities;
}

/** dispatchTo the current test's fake cluster. */
export function dispatchingActivities(current: () => FakeCluster): MigrationActivities {
  return dispatchTo(() => current().activities());
}
