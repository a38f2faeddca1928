// The twin's RBAC authorizer (kube-apiserver's rules: verbs, groups, resource/subresource,
// resourceNames, Role vs ClusterRole scope) and what deploy/rbac.yaml lets the worker do.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  Authorization,
  RbacPolicy,
  ruleAllows,
  serviceAccountUser,
  type PolicyRule,
  type RequestAttributes,
} from '../../twin/apiserver/rbac.js';

const WORKER = serviceAccountUser('meshmove', 'meshmove-worker');
const deployed = RbacPolicy.fromYaml(readFileSync(new URL('../../deploy/rbac.yaml', import.meta.url), 'utf8'));
const req = (verb: string, resource: string, more: Partial<RequestAttributes> = {}): RequestAttributes => ({
  verb,
  group: '',
  resource,
  ...more,
});

describe('ruleAllows', () => {
  const cases: Array<{ name: string; rule: PolicyRule; a: RequestAttributes; allowed: boolean }> = [
    {
      name: 'verb, group and resource match',
      rule: { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      a: req('get', 'pods'),
      allowed: true,
    },
    { name: 'another verb', rule: { apiGroups: [''], resources: ['pods'], verbs: ['get'] }, a: req('delete', 'pods'), allowed: false },
    { name: 'another group', rule: { apiGroups: ['apps'], resources: ['pods'], verbs: ['get'] }, a: req('get', 'pods'), allowed: false },
    {
      name: 'a resource does not grant its subresources',
      rule: { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      a: req('get', 'pods', { subresource: 'log' }),
      allowed: false,
    },
    {
      name: 'resource/subresource',
      rule: { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
      a: req('get', 'pods', { subresource: 'log' }),
      allowed: true,
    },
    {
      name: '*/subresource',
      rule: { apiGroups: [''], resources: ['*/status'], verbs: ['get'] },
      a: req('get', 'pods', { subresource: 'status' }),
      allowed: true,
    },
    {
      name: '* is every resource and subresource',
      rule: { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
      a: req('create', 'pods', { subresource: 'portforward' }),
      allowed: true,
    },
    {
      name: 'resourceNames: the named object',
      rule: { apiGroups: ['apps'], resources: ['deployments'], verbs: ['delete'], resourceNames: ['istiod'] },
      a: req('delete', 'deployments', { group: 'apps', name: 'istiod' }),
      allowed: true,
    },
    {
      name: 'resourceNames: another object',
      rule: { apiGroups: ['apps'], resources: ['deployments'], verbs: ['delete'], resourceNames: ['istiod'] },
      a: req('delete', 'deployments', { group: 'apps', name: 'istiod-1-16-5' }),
      allowed: false,
    },
    {
      name: 'resourceNames never match a request without a name',
      rule: { apiGroups: [''], resources: ['configmaps'], verbs: ['list'], resourceNames: ['x'] },
      a: req('list', 'configmaps'),
      allowed: false,
    },
  ];
  for (const c of cases) it(c.name, () => expect(ruleAllows(c.rule, c.a)).toBe(c.allowed));
});

describe('deploy/rbac.yaml for the worker', () => {
  const cases: Array<[string, RequestAttributes, boolean]> = [
    ['list pods everywhere', req('list', 'pods'), true],
    ['patch a namespace (relabel)', req('patch', 'namespaces', { name: 'orders' }), true],
    ['patch a Deployment (rollout restart)', req('patch', 'deployments', { group: 'apps', namespace: 'orders', name: 'orders' }), true],
    ['create a probe Job', req('create', 'jobs', { group: 'batch', namespace: 'frontend' }), true],
    ['read Secrets: never', req('get', 'secrets', { namespace: 'istio-system', name: 'cacerts' }), false],
    ['delete a namespace: never', req('delete', 'namespaces', { name: 'orders' }), false],
    [
      'delete a CRD: never',
      req('delete', 'customresourcedefinitions', { group: 'apiextensions.k8s.io', name: 'gateways.networking.istio.io' }),
      false,
    ],
    ['delete the source istiod', req('delete', 'deployments', { group: 'apps', namespace: 'istio-system', name: 'istiod' }), true],
    [
      'delete the target istiod: never',
      req('delete', 'deployments', { group: 'apps', namespace: 'istio-1-16-5', name: 'istiod-1-16-5' }),
      false,
    ],
    ['delete an app Deployment: never', req('delete', 'deployments', { group: 'apps', namespace: 'orders', name: 'orders' }), false],
    [
      'delete the source webhook configuration',
      req('delete', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: 'istio-sidecar-injector' }),
      true,
    ],
    [
      "delete the target's webhook configuration: never",
      req('delete', 'mutatingwebhookconfigurations', {
        group: 'admissionregistration.k8s.io',
        name: 'istio-sidecar-injector-istio-1-16-5',
      }),
      false,
    ],
    ['watch istio-ca-root-cert (waitCaReady)', req('watch', 'configmaps', { namespace: 'orders' }), true],
    [
      'list validating webhook configurations',
      req('list', 'validatingwebhookconfigurations', { group: 'admissionregistration.k8s.io' }),
      true,
    ],
    [
      'patch istiod-default-validator (decommission moves it to the target)',
      req('patch', 'validatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: 'istiod-default-validator' }),
      true,
    ],
    [
      'patch another validating webhook configuration: never',
      req('patch', 'validatingwebhookconfigurations', {
        group: 'admissionregistration.k8s.io',
        name: 'istio-validator-istio-1-16-5-istio-1-16-5',
      }),
      false,
    ],
    [
      'delete istiod-default-validator: never',
      req('delete', 'validatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: 'istiod-default-validator' }),
      false,
    ],
    [
      'patch a mutating webhook configuration: never',
      req('patch', 'mutatingwebhookconfigurations', { group: 'admissionregistration.k8s.io', name: 'istio-sidecar-injector' }),
      false,
    ],
    [
      'port-forward (WebSocket: get) to the target istiod',
      req('get', 'pods', { subresource: 'portforward', namespace: 'istio-1-16-5', name: 'istiod-1-16-5-abc' }),
      true,
    ],
    [
      'port-forward (create) to the source istiod',
      req('create', 'pods', { subresource: 'portforward', namespace: 'istio-system', name: 'istiod-abc' }),
      true,
    ],
    [
      'port-forward into an app namespace: never',
      req('get', 'pods', { subresource: 'portforward', namespace: 'orders', name: 'orders-abc' }),
      false,
    ],
  ];
  for (const [name, a, allowed] of cases) it(name, () => expect(deployed.allows(WORKER, a)).toBe(allowed));

  it('grants nothing to anyone else', () => {
    expect(deployed.allows(serviceAccountUser('default', 'default'), req('list', 'pods'))).toBe(false);
  });
});

describe('Authorization', () => {
  const auth = new Authorization('admin-token');
  auth.setPolicy(deployed);
  const token = auth.issueToken(WORKER);

  it('the admin token and no token are the cluster admin', () => {
    expect(auth.check(undefined, req('get', 'secrets', { namespace: 'x', name: 'y' }))).toBeUndefined();
    expect(auth.check('Bearer admin-token', req('delete', 'namespaces', { name: 'x' }))).toBeUndefined();
  });

  it('an unknown token is a 401', () => {
    expect(auth.check('Bearer nope', req('list', 'pods'))).toMatchObject({ code: 401 });
  });

  it("an issued token is decided by the policy, with kube-apiserver's message", () => {
    expect(auth.check(`Bearer ${token}`, req('list', 'pods'))).toBeUndefined();
    expect(auth.check(`Bearer ${token}`, req('get', 'secrets', { namespace: 'istio-system', name: 'cacerts' }))).toEqual({
      code: 403,
      user: WORKER,
      message: `User "${WORKER}" cannot get resource "secrets" in API group "" in the namespace "istio-system"`,
    });
  });

  it('every verb asked for is needed (a WebSocket port-forward is checked for get and create)', () => {
    const onlyCreate = RbacPolicy.fromObjects([
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'pf', namespace: 'istio-system' },
        rules: [{ apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] }],
      } as never,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'pf', namespace: 'istio-system' },
        roleRef: { kind: 'Role', name: 'pf' },
        subjects: [{ kind: 'ServiceAccount', name: 'meshmove-worker', namespace: 'meshmove' }],
      } as never,
    ]);
    const a = new Authorization('admin-token');
    a.setPolicy(onlyCreate);
    const t = a.issueToken(WORKER);
    const pf = req('get', 'pods', { subresource: 'portforward', namespace: 'istio-system', name: 'istiod-abc' });
    expect(a.check(`Bearer ${t}`, pf, ['get', 'create'])).toMatchObject({
      code: 403,
      message: expect.stringContaining('cannot get resource "pods/portforward"'),
    });
    expect(auth.check(`Bearer ${token}`, pf, ['get', 'create'])).toBeUndefined();
  });
});
