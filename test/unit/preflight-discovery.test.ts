import { describe, expect, it } from 'vitest';
import { decideDiscovery } from '../../activities/preflight/discovery.js';
import { decideOutboundPolicy } from '../../activities/preflight/outbound-policy.js';
import type { SelectorLike } from '../../mesh/injection.js';
import { plan } from './preflight-fixtures.js';

const usergroup: SelectorLike[] = [{ matchLabels: { usergroup: 'istio-1-16-5' } }];
const statusOf = (fs: { check: string; status: string }[], check: string) => fs.find((f) => f.check === check)?.status;

describe('decideDiscovery (table)', () => {
  const ns = (name: string, labels: Record<string, string> = {}) => ({ name, labels });
  const cases: { name: string; target: SelectorLike[]; source: SelectorLike[]; namespaces: { name: string; labels: Record<string, string> }[]; missing?: string[]; expect: Record<string, string | undefined> }[] = [
    { name: 'field report: target selects the plan label, source selects all', target: usergroup, source: [], namespaces: [ns('orders', { 'istio-injection': 'enabled' })], expect: { discovery: 'pass', 'discovery/source': 'pass', 'discovery/before-migration': undefined } },
    { name: 'target selects a label the plan does not set: block (the 503 pitfall)', target: [{ matchLabels: { mesh: 'community' } }], source: [], namespaces: [ns('orders')], expect: { 'discovery/orders': 'block' } },
    { name: 'already discovered before migration: warn', target: usergroup, source: [], namespaces: [ns('orders', { usergroup: 'istio-1-16-5' })], expect: { discovery: 'pass', 'discovery/before-migration': 'warn' } },
    { name: 'target without selectors discovers all: warn about scope', target: [], source: [], namespaces: [ns('orders')], expect: { discovery: 'pass', 'discovery/target-scope': 'warn' } },
    { name: 'source loses the namespace once istio-injection is removed: block', target: usergroup, source: [{ matchLabels: { 'istio-injection': 'enabled' } }], namespaces: [ns('orders', { 'istio-injection': 'enabled' })], expect: { 'discovery/source': 'block' } },
    { name: 'NotIn with absent key keeps selecting (facts §3)', target: [{ matchExpressions: [{ key: 'usergroup', operator: 'In', values: ['istio-1-16-5'] }] }], source: [{ matchExpressions: [{ key: 'istio-tag', operator: 'NotIn', values: ['canary'] }] }], namespaces: [ns('orders')], expect: { discovery: 'pass', 'discovery/source': 'pass' } },
    { name: 'a planned namespace that does not exist: block', target: usergroup, source: [], namespaces: [], missing: ['ghost'], expect: { 'namespace/ghost': 'block' } },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = decideDiscovery({ plan, namespaces: c.namespaces, missing: c.missing ?? [], target: c.target, source: c.source });
      for (const [check, status] of Object.entries(c.expect)) expect(statusOf(got, check), check).toBe(status);
    });
  }
});

describe('decideOutboundPolicy (table)', () => {
  const cases: { mesh: string | undefined; found?: boolean; status: string; reason?: RegExp }[] = [
    { mesh: undefined, status: 'pass', reason: /absent = ALLOW_ANY/ },
    { mesh: 'discoverySelectors:\n- matchLabels: {usergroup: istio-1-16-5}\n', status: 'pass', reason: /absent = ALLOW_ANY/ },
    { mesh: 'outboundTrafficPolicy:\n  mode: ALLOW_ANY\n', status: 'pass' },
    { mesh: 'outboundTrafficPolicy:\n  mode: ALLOW_ANY_DYNAMIC_DNS\n', status: 'pass' },
    { mesh: 'outboundTrafficPolicy:\n  mode: REGISTRY_ONLY\n', status: 'block', reason: /BlackHoleCluster/ },
    { mesh: 'outboundTrafficPolicy:\n  mode: BOGUS\n', status: 'block', reason: /cannot be read/ },
    { mesh: ':::not yaml', status: 'block' },
    { mesh: undefined, found: false, status: 'block', reason: /does not exist/ },
  ];
  for (const c of cases) {
    it(`${c.found === false ? 'missing ConfigMap' : JSON.stringify(c.mesh)} → ${c.status}`, () => {
      const f = decideOutboundPolicy({ configMap: 'istio-istio-1-16-5', namespace: 'istio-1-16-5', meshText: c.mesh, found: c.found ?? true });
      expect(f.status).toBe(c.status);
      if (c.reason) expect(f.reason).toMatch(c.reason);
    });
  }
});
