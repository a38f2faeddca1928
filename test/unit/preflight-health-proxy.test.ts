import { describe, expect, it } from 'vitest';
import { decideTargetHealth, deploymentHealth } from '../../activities/preflight/target-health.js';
import { externalAddress } from '../../activities/shared/gateway.js';
import { decideProxyStatus } from '../../activities/preflight/proxy-status.js';
import type { V1Deployment } from '@kubernetes/client-node';

const dep = (available: number, replicas = 1, cond?: 'True' | 'False'): V1Deployment => ({
  spec: { replicas, selector: {}, template: {} },
  status: {
    availableReplicas: available,
    ...(cond
      ? {
          conditions: [
            { type: 'Available', status: cond, message: cond === 'False' ? 'Deployment does not have minimum availability.' : undefined },
          ],
        }
      : {}),
  },
});

describe('decideTargetHealth (table)', () => {
  const cases: {
    name: string;
    istiod?: V1Deployment;
    gateway?: V1Deployment;
    svc: { found: boolean; address?: string };
    expect: string[];
  }[] = [
    {
      name: 'all healthy',
      istiod: dep(1, 1, 'True'),
      gateway: dep(2, 2, 'True'),
      svc: { found: true, address: '127.0.0.12' },
      expect: ['pass', 'pass', 'pass'],
    },
    { name: 'istiod missing', gateway: dep(1), svc: { found: true, address: '127.0.0.12' }, expect: ['block', 'pass', 'pass'] },
    {
      name: 'istiod 0 available',
      istiod: dep(0, 1, 'False'),
      gateway: dep(1),
      svc: { found: true, address: '127.0.0.12' },
      expect: ['block', 'pass', 'pass'],
    },
    {
      name: 'condition False despite a pod',
      istiod: dep(1, 2, 'False'),
      gateway: dep(1),
      svc: { found: true, address: 'a.example' },
      expect: ['block', 'pass', 'pass'],
    },
    { name: 'gateway without address', istiod: dep(1), gateway: dep(1), svc: { found: true }, expect: ['pass', 'pass', 'block'] },
    { name: 'no gateway service', istiod: dep(1), gateway: dep(1), svc: { found: false }, expect: ['pass', 'pass', 'block'] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = decideTargetHealth({
        revision: 'istio-1-16-5',
        istiod: deploymentHealth('istio-1-16-5', 'istiod-istio-1-16-5', c.istiod),
        gateway: deploymentHealth('istio-1-16-5', 'istio-ingressgateway', c.gateway),
        gatewayService: { namespace: 'istio-1-16-5', name: 'istio-ingressgateway', ...c.svc },
      });
      expect(got.map((f) => f.status)).toEqual(c.expect);
    });
  }
  it('externalAddress reads ip, else hostname', () => {
    expect(externalAddress({ status: { loadBalancer: { ingress: [{ ip: '127.0.0.9' }] } } })).toBe('127.0.0.9');
    expect(externalAddress({ status: { loadBalancer: { ingress: [{ hostname: 'lb.example' }] } } })).toBe('lb.example');
    expect(externalAddress({ status: { loadBalancer: {} } })).toBeUndefined();
  });

  it('preflight accepts a gateway Service whose address is in spec.externalIPs', () => {
    expect(externalAddress({ spec: { externalIPs: ['127.0.0.20'] }, status: { loadBalancer: {} } })).toBe('127.0.0.20');
  });
});

describe('decideProxyStatus (table)', () => {
  const synced = { proxy: 'a-1.orders', cluster_sent: 'n1', cluster_acked: 'n1', listener_sent: 'n2', listener_acked: 'n2' };
  const stale = { proxy: 'b-1.orders', cluster_sent: 'n3', cluster_acked: 'n2' };
  const neverAcked = { proxy: 'c-1.orders', route_sent: 'n4' };
  const notSent = { proxy: 'd-1.orders' };
  const cases: {
    name: string;
    side: 'target' | 'source';
    read: Parameters<typeof decideProxyStatus>[2];
    status: string;
    reason?: RegExp;
  }[] = [
    { name: 'no proxies yet', side: 'target', read: { ok: true, entries: [] }, status: 'pass', reason: /among the 0/ },
    { name: 'all synced / not sent', side: 'target', read: { ok: true, entries: [synced, notSent] }, status: 'pass' },
    {
      name: 'a stale proxy on the target blocks',
      side: 'target',
      read: { ok: true, entries: [synced, stale] },
      status: 'block',
      reason: /1 of 2.*b-1.orders \(cluster\)/,
    },
    {
      name: 'never acknowledged is stale',
      side: 'target',
      read: { ok: true, entries: [neverAcked] },
      status: 'block',
      reason: /never acknowledged/,
    },
    { name: 'stale on the source only warns', side: 'source', read: { ok: true, entries: [stale] }, status: 'warn' },
    {
      name: 'unreadable target syncz blocks',
      side: 'target',
      read: { ok: false, error: 'no Running istiod pod' },
      status: 'block',
      reason: /no Running istiod pod/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const f = decideProxyStatus(c.side, 'istio-1-16-5', c.read);
      expect(f.status).toBe(c.status);
      if (c.reason) expect(f.reason).toMatch(c.reason);
    });
  }
});
