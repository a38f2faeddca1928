import { describe, expect, it } from 'vitest';
import type {
  V1Deployment,
  V1MutatingWebhookConfiguration,
  V1Pod,
  V1Service,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import {
  decideDecommissionScope,
  decommissionScope,
  itemId,
  targetValidationClientConfig,
  validatorMovePatch,
  type DecommissionScopeView,
} from '../../activities/preflight/pitfall-guard.js';
import { istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import { plan, sourceMwc, targetMwc, withPlan } from './preflight-fixtures.js';

const deployment = (ns: string, name: string, labels: Record<string, string> = {}): V1Deployment => ({
  metadata: { namespace: ns, name, labels },
});
const service = (ns: string, name: string, selector: Record<string, string>, labels: Record<string, string> = {}): V1Service => ({
  metadata: { namespace: ns, name, labels },
  spec: { selector },
});
const defaultTag = istioInjectorWebhookConfiguration('default', {
  isDefault: true,
  tag: 'stable',
  istiodNamespace: 'istio-system',
}) as unknown as V1MutatingWebhookConfiguration;
const unrelated: V1MutatingWebhookConfiguration = {
  metadata: { name: 'cert-manager-webhook', labels: { app: 'cert-manager' } },
  webhooks: [],
};

// The validating webhook configurations a real install renders (values.defaultRevision=default for the source).
const RULES = [
  { operations: ['CREATE', 'UPDATE'], apiGroups: ['networking.istio.io', 'security.istio.io'], apiVersions: ['*'], resources: ['*'] },
];
const validator = (
  name: string,
  rev: string,
  svc: { name: string; namespace: string },
  objectSelector?: object,
): V1ValidatingWebhookConfiguration =>
  ({
    metadata: { name, labels: { app: 'istiod', 'istio.io/rev': rev } },
    webhooks: [
      {
        name: objectSelector ? 'rev.validation.istio.io' : 'validation.istio.io',
        clientConfig: { service: { ...svc, path: '/validate', port: 443 }, caBundle: rev === 'default' ? 'U09VUkNF' : 'VEFSR0VU' },
        rules: RULES,
        failurePolicy: 'Fail',
        sideEffects: 'None',
        admissionReviewVersions: ['v1'],
        ...(objectSelector ? { objectSelector } : {}),
      },
    ],
  }) as V1ValidatingWebhookConfiguration;
const sourceIstiod = { name: 'istiod', namespace: 'istio-system' };
const targetIstiod = { name: 'istiod-istio-1-16-5', namespace: 'istio-1-16-5' };
const defaultValidator = validator('istiod-default-validator', 'default', sourceIstiod);
const sourceValidator = validator('istio-validator-istio-system', 'default', sourceIstiod, {
  matchExpressions: [{ key: 'istio.io/rev', operator: 'In', values: ['default'] }],
});
const targetValidator = validator('istio-validator-istio-1-16-5-istio-1-16-5', 'istio-1-16-5', targetIstiod, {
  matchExpressions: [{ key: 'istio.io/rev', operator: 'In', values: ['istio-1-16-5'] }],
});

function view(over: Partial<DecommissionScopeView> = {}): DecommissionScopeView {
  return {
    plan,
    mwcs: [sourceMwc, targetMwc, unrelated],
    vwcs: [defaultValidator, sourceValidator, targetValidator],
    sourceConfigMaps: [{ metadata: { name: 'istio' } }, { metadata: { name: 'istio-ca-root-cert' } }],
    sourceGateways: [{ metadata: { name: 'y7test-gateway', namespace: 'istio-system' } }],
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
    const f = decideDecommissionScope(s, 'default', 'istio-1-16-5');
    expect(f.map((x) => [x.check, x.status])).toEqual([
      ['decommission/scope', 'pass'],
      ['pitfall/never-deleted', 'pass'],
      ['pitfall/default-validator', 'pass'],
    ]);
    expect(f[1]!.reason).toMatch(/every CustomResourceDefinition \(14 \*\.istio\.io\)/);
  });

  it('the default validator is moved to the target, the revisioned one of the source stays; the summary says both', () => {
    const s = decommissionScope(view());
    expect(s.move.map((m) => m.name)).toEqual(['istiod-default-validator']);
    expect(s.move[0]!.to).toEqual({
      service: { name: 'istiod-istio-1-16-5', namespace: 'istio-1-16-5', path: '/validate', port: 443 },
      caBundle: 'VEFSR0VU',
    });
    expect(s.delete.map(itemId).filter((i) => i.startsWith('Validating'))).toEqual([]);
    const [scope, , moved] = decideDecommissionScope(s, 'default', 'istio-1-16-5');
    expect(scope!.reason).toMatch(
      /first repoint ValidatingWebhookConfiguration\/istiod-default-validator from istiod.istio-system.svc\/validate to the target istiod istiod-istio-1-16-5.istio-1-16-5.svc\/validate/,
    );
    expect(scope!.reason).toMatch(
      /leaves behind: ValidatingWebhookConfiguration\/istio-validator-istio-system \(validates only Istio objects labeled istio.io\/rev=default; fail-closed/,
    );
    for (const left of [
      /ConfigMaps istio-system\/\{istio, istio-ca-root-cert\}/,
      /Gateway istio-system\/y7test-gateway/,
      /HorizontalPodAutoscaler and PodDisruptionBudget istio-system\/istiod/,
      /ServiceAccounts/,
      /ClusterRoles/,
      /Secret istio-system\/istio-ca-secret/,
    ])
      expect(scope!.reason).toMatch(left);
    expect(moved!.reason).toMatch(/every Istio object.*fail-closed.*istioctl tag set default --revision istio-1-16-5/);
  });

  it('a default validator already on the target, or none: nothing to move', () => {
    const already = validator('istiod-default-validator', 'istio-1-16-5', targetIstiod);
    expect(decommissionScope(view({ vwcs: [already, sourceValidator, targetValidator] })).move).toEqual([]);
    expect(decommissionScope(view({ vwcs: [] })).move).toEqual([]);
  });

  it('no target validator: the clientConfig comes from its injector with the validation path; none at all: block', () => {
    const to = targetValidationClientConfig(plan, [defaultValidator], [sourceMwc, targetMwc]);
    expect(to?.config.service).toEqual({ name: 'istiod-istio-1-16-5', namespace: 'istio-1-16-5', path: '/validate', port: 443 });
    expect(to?.from).toMatch(/injector/);
    const s = decommissionScope(view({ vwcs: [defaultValidator], mwcs: [sourceMwc] }));
    expect(s.blockers.join(' ')).toMatch(/istiod-default-validator validates every Istio object.*no validating webhook/);
    expect(decideDecommissionScope(s, 'default')[0]!.status).toBe('block');
  });

  it('url-based webhooks (istiod outside the cluster) are repointed to the url the target validator calls', () => {
    const urlTarget = structuredClone(targetValidator);
    urlTarget.webhooks![0]!.clientConfig = { url: 'https://localhost:25017/validate', caBundle: 'VEFSR0VU' };
    const urlDefault = structuredClone(defaultValidator);
    urlDefault.webhooks![0]!.clientConfig = { url: 'https://localhost:15017/validate' };
    const to = targetValidationClientConfig(plan, [urlDefault, urlTarget], []);
    expect(to?.config).toEqual({ url: 'https://localhost:25017/validate', caBundle: 'VEFSR0VU' });
    const patch = validatorMovePatch(urlDefault, to!.config, 'istio-1-16-5') as {
      metadata: unknown;
      webhooks: { clientConfig: unknown; failurePolicy: string }[];
    };
    expect(patch.metadata).toEqual({ labels: { 'istio.io/rev': 'istio-1-16-5' } });
    expect(patch.webhooks.map((w) => w.clientConfig)).toEqual([{ url: 'https://localhost:25017/validate', caBundle: 'VEFSR0VU' }]);
    expect(patch.webhooks[0]!.failurePolicy).toBe('Fail');
    // Applied, the patch is no longer needed (idempotent), whatever the target istiod writes into the caBundle.
    const moved = {
      ...urlDefault,
      metadata: { ...urlDefault.metadata, labels: { 'istio.io/rev': 'istio-1-16-5' } },
      webhooks: [{ ...urlDefault.webhooks![0]!, clientConfig: { url: 'https://localhost:25017/validate', caBundle: 'UkVQQVRDSEVE' } }],
    };
    expect(validatorMovePatch(moved, to!.config, 'istio-1-16-5')).toBeUndefined();
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
    const s = decommissionScope(
      view({ istiodService: service('istio-system', 'istiod', { app: 'istiod', 'istio.io/rev': 'istio-1-16-5' }) }),
    );
    expect(s.delete.map(itemId)).not.toContain('Service/istio-system/istiod');
    expect(s.kept.map((k) => k.id)).toContain('Service/istio-system/istiod');
  });

  it('source and target gateway the same object: block', () => {
    const p = withPlan((x) => {
      x.source.gateway = { ...x.target.gateway };
    });
    const s = decommissionScope(view({ plan: p }));
    expect(s.blockers[0]).toMatch(/same object/);
    expect(decideDecommissionScope(s, 'default')[0]!.status).toBe('block');
  });

  it('a source gateway Service selecting the target gateway pods (same namespace): block', () => {
    const p = withPlan((x) => {
      x.target.gateway = {
        ...x.target.gateway,
        namespace: 'istio-system',
        service: 'oss-gateway',
        selector: { istio: 'ingressgateway', flavor: 'oss' },
      };
    });
    const s = decommissionScope(view({ plan: p }));
    expect(s.blockers.join(' ')).toMatch(/also selects the target gateway's pods/);
  });

  it('a target-side pod whose CA_ADDR points at the source istiod: block', () => {
    const pod: V1Pod = {
      metadata: { namespace: 'istio-1-16-5', name: 'gw-1' },
      spec: { containers: [{ name: 'istio-proxy', env: [{ name: 'CA_ADDR', value: 'istiod.istio-system.svc:15012' }] }] },
    };
    const s = decommissionScope(view({ targetPods: [pod] }));
    expect(s.blockers.join(' ')).toMatch(/gw-1 still refers to the source istiod \(istio-proxy.CA_ADDR=istiod.istio-system.svc:15012\)/);
  });

  it('nothing found: warn', () => {
    const s = decommissionScope(
      view({
        mwcs: [targetMwc],
        istiodDeployment: undefined,
        istiodService: undefined,
        gatewayDeployment: undefined,
        gatewayService: undefined,
      }),
    );
    expect(decideDecommissionScope(s, 'default')[0]!.status).toBe('warn');
  });
});
