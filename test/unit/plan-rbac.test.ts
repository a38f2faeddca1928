// `meshmove plan rbac`: deploy/rbac.yaml with a plan's names, judged by the twin's RBAC authorizer
// (kube-apiserver's rules) for what the worker may and may not do under each plan.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { rbacForPlan } from '../../client/plan-rbac.js';
import { loadPlan } from '../../plan/load.js';
import type { Plan } from '../../plan/schema.js';
import { RbacPolicy, serviceAccountUser, type RequestAttributes } from '../../twin/apiserver/rbac.js';

const TEMPLATE = readFileSync(new URL('../../deploy/rbac.yaml', import.meta.url), 'utf8');
const WORKER = serviceAccountUser('meshmove', 'meshmove-worker');
const fieldReport = (await loadPlan('examples/plans/field-report.yaml')).plan;
const upgrade = (await loadPlan('examples/plans/revision-upgrade.yaml')).plan;
const del = (resource: string, group: string, namespace: string | undefined, name: string): RequestAttributes => ({
  verb: 'delete',
  group,
  resource,
  name,
  ...(namespace ? { namespace } : {}),
});
const allows = (plan: Plan, a: RequestAttributes): boolean => RbacPolicy.fromYaml(rbacForPlan(TEMPLATE, plan)).allows(WORKER, a);

describe('rbacForPlan', () => {
  it('for the field report: deploy/rbac.yaml itself, comments kept', () => {
    const out = rbacForPlan(TEMPLATE, fieldReport);
    expect(parseAllDocuments(out).map((d) => d.toJS())).toEqual(parseAllDocuments(TEMPLATE).map((d) => d.toJS()));
    expect(out).toContain('# It never reads Secrets');
  });

  it("the revision upgrade in place: the source's objects by their revision's names; the gateway, which stays, never", () => {
    expect(
      allows(
        upgrade,
        del('mutatingwebhookconfigurations', 'admissionregistration.k8s.io', undefined, 'istio-sidecar-injector-istio-1-15-7'),
      ),
    ).toBe(true);
    expect(allows(upgrade, del('mutatingwebhookconfigurations', 'admissionregistration.k8s.io', undefined, 'istio-sidecar-injector'))).toBe(
      false,
    );
    expect(allows(upgrade, del('deployments', 'apps', 'istio-system', 'istiod-istio-1-15-7'))).toBe(true);
    expect(allows(upgrade, del('services', '', 'istio-system', 'istiod-istio-1-15-7'))).toBe(true);
    expect(allows(upgrade, del('deployments', 'apps', 'istio-system', 'istio-ingressgateway'))).toBe(false);
    expect(allows(upgrade, del('services', '', 'istio-system', 'istio-ingressgateway'))).toBe(false);
    expect(allows(upgrade, { verb: 'create', group: '', resource: 'pods', subresource: 'portforward', namespace: 'istio-1-16-5' })).toBe(
      true,
    );
  });

  it("a revision tag: patch on that tag's configuration only", () => {
    const tagged: Plan = { ...upgrade, target: { ...upgrade.target, tag: 'prod' } };
    const patch = (name: string): RequestAttributes => ({
      verb: 'patch',
      group: 'admissionregistration.k8s.io',
      resource: 'mutatingwebhookconfigurations',
      name,
    });
    expect(allows(tagged, patch('istio-revision-tag-prod'))).toBe(true);
    expect(allows(tagged, patch('istio-sidecar-injector-istio-1-16-5'))).toBe(false);
    expect(allows(upgrade, patch('istio-revision-tag-prod'))).toBe(false);
  });

  it('a source gateway outside the source istiod namespace gets a Role there; the backups namespace follows the plan', () => {
    const elsewhere: Plan = {
      ...fieldReport,
      source: { ...fieldReport.source, gateway: { ...fieldReport.source.gateway, namespace: 'istio-ingress', service: 'edge' } },
      backup: { cluster: { namespace: 'mm-backups' } },
    };
    expect(allows(elsewhere, del('deployments', 'apps', 'istio-ingress', 'edge'))).toBe(true);
    expect(allows(elsewhere, del('services', '', 'istio-ingress', 'edge'))).toBe(true);
    expect(allows(elsewhere, del('deployments', 'apps', 'istio-ingress', 'other'))).toBe(false);
    expect(allows(elsewhere, del('deployments', 'apps', 'istio-system', 'edge'))).toBe(false);
    expect(allows(elsewhere, { verb: 'create', group: '', resource: 'configmaps', namespace: 'mm-backups' })).toBe(true);
    expect(allows(elsewhere, { verb: 'create', group: '', resource: 'configmaps', namespace: 'meshmove-backups' })).toBe(false);
  });
});
