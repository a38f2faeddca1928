import { describe, expect, it } from 'vitest';
import type { V1Deployment, V1MutatingWebhookConfiguration, V1Pod, V1Service } from '@kubernetes/client-node';
import { decideDecommissionScope, decommissionScope, itemId, type DecommissionScopeView } from '../../activities/preflight/pitfall-guard.js';
import { istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import { plan, sourceMwc, targetMwc, withPlan } from './preflight-fixtures.js';

const deployment = (ns: string, name: string, labels: Record<string, string> = {}): V1Deployment => ({ metadata: { namespace: ns, name, labels } });
const service = (ns: string, name: string, selector: Record<string, string>, labels: Record<string, string> = {}): V1Service => ({ metadata: { namespace: ns, name, labels }, spec: { selector } });
const defaultTag = istioInjectorWebhookConfiguration('default', { isDefault: true, tag: 'stable', istiodNamespace: 'istio-system' }) as unknown as V1MutatingWebhookConfiguration;
const unrelated: V1MutatingWebhookConfiguration = { metadata: { name: 'cert-manager-webhook', labels: { app: 'cert-manager' } }, webhooks: [] };

function view(over: Partial<DecommissionScopeView> = {}): DecommissionScopeView {
  return {
    plan,
    mwcs: [sourceMwc, targetMwc, unrelated],
    istiodDeployment: deployment('istio-system', 'istiod', { app: 'istiod', 'istio.io/rev': 'default' }),
    istiodService: service('istio-system', 'istiod', { app: 'istiod', 'istio.io/rev': 'default' }),
    gatewayDeployment: deployment('istio-system', 'istio-ingressgateway', { istio: 'ingressgateway' }),
    gatewayService: service('istio-system', 'istio-ingressgateway', { istio: 'ingressgateway' }),
    targetPods: [],
    istioCrds: 14,
    ...over,
  };
}

describe('decommissionScope (table)', () => {
  it('field report: exactly the source revision objects, never the target, CRDs or other webhooks', () => {
    const s = decommissionScope(view());
    expect(s.delete.map(itemId).sort()).toEqual([
      'Deployment/istio-system/istio-ingressgateway',
      'Deployment/istio-system/istiod',
      'MutatingWebhookConfiguration/istio-sidecar-injector',
      'Service/istio-system/istio-ingressgateway',
      'Service/istio-system/istiod',
    ]);
    expect(s.blockers).toEqual([]);
    const f = decideDecommissionScope(s, 'default');
    expect(f.map((x) => x.status)).toEqual(['pass', 'pass']);
    expect(f[1]!.reason).toMatch(/every CustomResourceDefinition \(14 \*\.istio\.io\)/);
  });

  it('a revision tag pointing at the source is kept and warned about', () => {
    const s = decommissionScope(view({ mwcs: [sourceMwc, targetMwc, defaultTag] }));
    expect(s.delete.map(itemId)).not.toContain('MutatingWebhookConfiguration/istio-revision-tag-stable');
    expect(s.kept.map((k) => k.id)).toContain('MutatingWebhookConfiguration/istio-revision-tag-stable');
    expect(decideDecommissionScope(s, 'default')[1]!.status).toBe('warn');
  });

  it('an MWC labeled for the source but calling another istiod is kept', () => {
    const odd = structuredClone(sourceMwc);
    odd.metadata!.name = 'vendor-injector';
    odd.webhooks![0]!.clientConfig.service = { name: 'istiod-istio-1-16-5', namespace: 'istio-1-16-5', path: '/inject' };
    const s = decommissionScope(view({ mwcs: [odd] }));
    expect(s.delete.filter((i) => i.kind === 'MutatingWebhookConfiguration')).toEqual([]);
    expect(s.kept[0]!.why).toMatch(/call istio-1-16-5\/istiod-istio-1-16-5/);
  });

  it('an istiod Service re-pointed at another revision is kept', () => {
    const s = decommissionScope(view({ istiodService: service('istio-system', 'istiod', { app: 'istiod', 'istio.io/rev': 'istio-1-16-5' }) }));
    expect(s.delete.map(itemId)).not.toContain('Service/istio-system/istiod');
    expect(s.kept.map((k) => k.id)).toContain('Service/istio-system/istiod');
  });

  it('source and target gateway the same object: block', () => {
    const p = withPlan((x) => { x.source.gateway = { ...x.target.gateway }; });
    const s = decommissionScope(view({ plan: p }));
    expect(s.blockers[0]).toMatch(/same object/);
    expect(decideDecommissionScope(s, 'default')[0]!.status).toBe('block');
  });

  it('a source gateway Service selecting the target gateway pods (same namespace): block', () => {
    const p = withPlan((x) => { x.target.gateway = { ...x.target.gateway, namespace: 'istio-system', service: 'oss-gateway', selector: { istio: 'ingressgateway', flavor: 'oss' } }; });
    const s = decommissionScope(view({ plan: p }));
    expect(s.blockers.join(' ')).toMatch(/also selects the target gateway's pods/);
  });

  it('a target-side pod whose CA_ADDR points at the source istiod: block', () => {
    const pod: V1Pod = { metadata: { namespace: 'istio-1-16-5', name: 'gw-1' }, spec: { containers: [{ name: 'istio-proxy', env: [{ name: 'CA_ADDR', value: 'istiod.istio-system.svc:15012' }] }] } };
    const s = decommissionScope(view({ targetPods: [pod] }));
    expect(s.blockers.join(' ')).toMatch(/gw-1 still refers to the source istiod \(istio-proxy.CA_ADDR=istiod.istio-system.svc:15012\)/);
  });

  it('nothing found: warn', () => {
    const s = decommissionScope(view({ mwcs: [targetMwc], istiodDeployment: undefined, istiodService: undefined, gatewayDeployment: undefined, gatewayService: undefined }));
    expect(decideDecommissionScope(s, 'default')[0]!.status).toBe('warn');
  });
});
