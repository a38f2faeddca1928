// The DNS cutover against the twin: the new gateway's address is stable, the records are switched
// through the twin's signed webhook (once), resolved through its DNS server, and switched back.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkGatewayStable, switchDns, verifyDns, type DnsDeps } from '../../activities/dns/index.js';
import { createKubeAccess } from '../../activities/kube/index.js';
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { parsePlanText } from '../../plan/load.js';
import type { Plan } from '../../plan/schema.js';
import { startTwin, type Twin } from '../../twin/index.js';

const SCENARIO = fileURLToPath(new URL('../../examples/twin/field-report.yaml', import.meta.url));
const PLAN = fileURLToPath(new URL('../../examples/plans/field-report.yaml', import.meta.url));
const RUN = 'run-dns-1';

let twin: Twin;
let plan: Plan;
let deps: DnsDeps;
const run = <T>(fn: () => Promise<T>): Promise<T> => new MockActivityEnvironment().run(fn);

beforeAll(async () => {
  twin = await startTwin(SCENARIO, { randomPorts: true });
  const kube = createKubeAccess({ kubeconfig: twin.kubeconfigPath, context: twin.context, rateLimit: { qps: 1000, burst: 1000 } });
  plan = parsePlanText(readFileSync(PLAN, 'utf8'), PLAN);
  // The plan names fixed ports; this twin listens on free ones.
  plan.dns!.provider = { type: 'webhook', url: `${twin.apiUrl}/_twin/dns`, secretEnv: 'MESHMOVE_DNS_SECRET' };
  plan.dns!.resolvers = [`${twin.dns.host}:${twin.dns.port}`];
  plan.dns!.stabilityWindow = 400;
  deps = { kube, env: { MESHMOVE_DNS_SECRET: twin.dnsWebhookSecret }, tuning: { pollMs: 50, dnsVerifyTimeoutMs: 5_000 } };
});
afterAll(async () => {
  await twin?.close();
});

const gatewayAddress = (key: string): string => twin.gateways[key]!.address;
const answers = (): Record<string, string> => Object.fromEntries(twin.dns.zone.list().map((r) => [r.name, r.address]));

describe('DNS cutover through the webhook provider', () => {
  it('the target gateway address is stable over the window', async () => {
    const started = Date.now();
    const r = await run(() => checkGatewayStable(deps, { plan, migrationId: RUN }));
    expect(r.address).toBe(gatewayAddress(`${plan.target.gateway.namespace}/${plan.target.gateway.service}`));
    expect(Date.now() - started).toBeGreaterThanOrEqual(plan.dns!.stabilityWindow);
  });

  it('switches the records to the target once, and resolvers answer it', async () => {
    const target = gatewayAddress(`${plan.target.gateway.namespace}/${plan.target.gateway.service}`);
    const changesBefore = twin.dns.zone.changes;
    const first = await run(() => switchDns(deps, { plan, migrationId: RUN, to: 'target' }));
    expect(first).toEqual({ provider: 'webhook', address: target, records: ['shop.y7test.com', 'api.y7test.com'], changed: true });
    const second = await run(() => switchDns(deps, { plan, migrationId: RUN, to: 'target' }));
    expect(second.changed).toBe(false);
    expect(twin.dns.zone.changes - changesBefore).toBe(2);
    expect(answers()).toMatchObject({ 'shop.y7test.com': target, 'api.y7test.com': target });
    const v = await run(() => verifyDns(deps, { plan, migrationId: RUN, address: target }));
    expect(v.resolved).toEqual(['shop.y7test.com', 'api.y7test.com']);
  });

  it('compensation points them back at the source gateway', async () => {
    const source = gatewayAddress(`${plan.source.gateway.namespace}/${plan.source.gateway.service}`);
    const r = await run(() => switchDns(deps, { plan, migrationId: RUN, to: 'source' }));
    expect(r).toMatchObject({ address: source, changed: true });
    await run(() => verifyDns(deps, { plan, migrationId: RUN, address: source }));
  });

  it('verifyDns gives up with what each resolver answered when the records never move', async () => {
    const target = gatewayAddress(`${plan.target.gateway.namespace}/${plan.target.gateway.service}`);
    const impatient: DnsDeps = { ...deps, tuning: { pollMs: 50, dnsVerifyTimeoutMs: 200 } };
    const p: Plan = { ...plan, dns: { ...plan.dns!, ttl: 1_000 } };
    const err = await run(() => verifyDns(impatient, { plan: p, migrationId: RUN, address: target })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as Error).message).toContain(
      `shop.y7test.com via ${twin.dns.host}:${twin.dns.port}: ${gatewayAddress(`${plan.source.gateway.namespace}/${plan.source.gateway.service}`)}`,
    );
  });

  it('a missing secret fails for good and names the variable; a wrong one is refused by the receiver (401)', async () => {
    const missing = await run(() => switchDns({ ...deps, env: {} }, { plan, migrationId: RUN, to: 'target' })).catch((e: unknown) => e);
    expect((missing as ApplicationFailure).nonRetryable).toBe(true);
    expect((missing as Error).message).toContain('MESHMOVE_DNS_SECRET');
    const wrong = await run(() =>
      switchDns({ ...deps, env: { MESHMOVE_DNS_SECRET: 'not-the-secret' } }, { plan, migrationId: RUN, to: 'target' }),
    ).catch((e: unknown) => e);
    expect((wrong as ApplicationFailure).nonRetryable).toBe(true);
    expect((wrong as Error).message).toMatch(/answered 401/);
    expect((wrong as Error).message).not.toContain('not-the-secret');
  });

  it('the manual provider changes nothing', async () => {
    const manual: Plan = { ...plan, dns: { ...plan.dns!, provider: { type: 'manual' } } };
    const before = twin.dns.zone.changes;
    const r = await run(() => switchDns(deps, { plan: manual, migrationId: RUN, to: 'target' }));
    expect(r).toMatchObject({ provider: 'manual', changed: false });
    expect(twin.dns.zone.changes).toBe(before);
  });
});

describe('a gateway Service published through spec.externalIPs (no load balancer)', () => {
  it('the cutover finds its address there, waits for it to be stable and points the records at it', async () => {
    const gw = plan.target.gateway;
    const address = gatewayAddress(`${gw.namespace}/${gw.service}`);
    const kc = new KubeConfig();
    kc.loadFromFile(twin.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    // Bare metal: no cloud controller fills status.loadBalancer; kube-proxy answers on the IP
    // the Service lists in spec.externalIPs.
    await core.patchNamespacedServiceStatus(
      { name: gw.service, namespace: gw.namespace, body: { status: { loadBalancer: { ingress: null } } } },
      merge,
    );
    await core.patchNamespacedService({ name: gw.service, namespace: gw.namespace, body: { spec: { externalIPs: [address] } } }, merge);
    const svc = await core.readNamespacedService({ name: gw.service, namespace: gw.namespace });
    expect(svc.status?.loadBalancer?.ingress ?? []).toEqual([]);

    expect(await run(() => checkGatewayStable(deps, { plan, migrationId: RUN }))).toEqual({ address });
    const r = await run(() => switchDns(deps, { plan, migrationId: RUN, to: 'target' }));
    expect(r).toMatchObject({ address, records: ['shop.y7test.com', 'api.y7test.com'] });
    expect(answers()).toMatchObject({ 'shop.y7test.com': address, 'api.y7test.com': address });
  });
});
