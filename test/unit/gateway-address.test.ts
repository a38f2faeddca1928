// The address DNS is pointed at and gateway probes are sent to: the Service's load-balancer ingress
// (a cloud load balancer), else its spec.externalIPs (bare metal: kube-proxy answers on those IPs,
// as `kubectl get svc` shows in EXTERNAL-IP).
import { describe, expect, it } from 'vitest';
import type { V1Service } from '@kubernetes/client-node';
import { externalAddress } from '../../activities/shared/gateway.js';

describe('externalAddress (table)', () => {
  const cases: { name: string; svc: V1Service | undefined; address: string | undefined }[] = [
    { name: 'no Service', svc: undefined, address: undefined },
    { name: 'nothing assigned yet', svc: { spec: { type: 'LoadBalancer' }, status: { loadBalancer: {} } }, address: undefined },
    { name: 'load-balancer ip', svc: { status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } }, address: '203.0.113.7' },
    { name: 'load-balancer hostname', svc: { status: { loadBalancer: { ingress: [{ hostname: 'lb.example' }] } } }, address: 'lb.example' },
    {
      name: 'an ingress entry without either is skipped',
      svc: { status: { loadBalancer: { ingress: [{}, { ip: '203.0.113.8' }] } } },
      address: '203.0.113.8',
    },
    {
      name: 'spec.externalIPs only',
      svc: { spec: { type: 'ClusterIP', externalIPs: ['198.51.100.4', '198.51.100.5'] }, status: { loadBalancer: {} } },
      address: '198.51.100.4',
    },
    {
      name: 'spec.externalIPs on a LoadBalancer still pending',
      svc: { spec: { type: 'LoadBalancer', externalIPs: ['198.51.100.4'] } },
      address: '198.51.100.4',
    },
    {
      name: 'the load balancer wins over externalIPs',
      svc: { spec: { externalIPs: ['198.51.100.4'] }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } },
      address: '203.0.113.7',
    },
    { name: 'empty externalIPs', svc: { spec: { externalIPs: [''] } }, address: undefined },
  ];
  for (const c of cases) it(c.name, () => expect(externalAddress(c.svc)).toBe(c.address));
});
