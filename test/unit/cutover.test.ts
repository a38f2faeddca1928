// The in-place gateway move's pure decisions: where a gateway's pods take their revision from (what
// relabelGateway changes), and what preflight says about the plan's cutover.
import { describe, expect, it } from 'vitest';
import { gatewayRevisionSource } from '../../activities/gateway/move.js';
import { decideCutover, type CutoverView } from '../../activities/preflight/cutover.js';
import { gatewayMoveGateSummary, decommissionGateSummary } from '../../workflows/gate-summaries.js';
import { loadPlan } from '../../plan/load.js';

describe('gatewayRevisionSource', () => {
  it('the namespace label wins over the pod template (the namespace webhook selects first)', () => {
    expect(gatewayRevisionSource({ 'istio.io/rev': 'a' }, { 'istio.io/rev': 'b' })).toEqual({ where: 'namespace', revision: 'a' });
    expect(gatewayRevisionSource({}, { 'istio.io/rev': 'b', istio: 'ingressgateway' })).toEqual({ where: 'template', revision: 'b' });
  });

  it('istio-injection on the namespace, or no istio.io/rev anywhere: not movable by revision, with the fix', () => {
    const legacy = gatewayRevisionSource({ 'istio-injection': 'enabled', 'istio.io/rev': 'a' }, { 'istio.io/rev': 'b' });
    expect(legacy).toMatchObject({ where: 'none', why: expect.stringContaining('overrides istio.io/rev') });
    expect(gatewayRevisionSource({}, { istio: 'ingressgateway' })).toMatchObject({
      where: 'none',
      why: expect.stringContaining('label the pod template with istio.io/rev'),
    });
  });
});

describe('decideCutover', async () => {
  const { plan } = await loadPlan('examples/plans/revision-upgrade.yaml');
  const { plan: fieldReport } = await loadPlan('examples/plans/field-report.yaml');
  const view = (v: Partial<CutoverView>): CutoverView => ({ plan, ...v });

  it('in place, from the pod template on the source revision: passes and says where', () => {
    const f = decideCutover(view({ namespaceLabels: {}, deploymentTemplateLabels: { 'istio.io/rev': 'istio-1-15-7' } }));
    expect(f).toEqual([
      expect.objectContaining({
        check: 'cutover/gateway',
        status: 'pass',
        reason: expect.stringContaining('istio.io/rev=istio-1-15-7 on its pod template'),
      }),
    ]);
  });

  it('in place, by the namespace label, with other injected workloads there: a warning naming them', () => {
    const f = decideCutover(
      view({ namespaceLabels: { 'istio.io/rev': 'istio-1-15-7' }, deploymentTemplateLabels: {}, othersWithSidecars: ['egress', 'cron'] }),
    );
    expect(f.map((x) => [x.check, x.status])).toEqual([
      ['cutover/gateway', 'pass'],
      ['cutover/gateway-namespace', 'warn'],
    ]);
    expect(f[1]!.reason).toContain('egress, cron');
  });

  it('in place: a gateway injected by the default revision, or missing, blocks', () => {
    expect(decideCutover(view({ namespaceLabels: {}, deploymentTemplateLabels: { istio: 'ingressgateway' } }))[0]!.status).toBe('block');
    expect(decideCutover(view({ namespaceLabels: {}, deploymentTemplateLabels: undefined }))[0]).toMatchObject({
      status: 'block',
      reason: expect.stringContaining('does not exist'),
    });
    expect(decideCutover(view({ namespaceLabels: undefined }))[0]!.status).toBe('block');
  });

  it('in place on another revision than the plan says: a warning', () => {
    const f = decideCutover(view({ namespaceLabels: {}, deploymentTemplateLabels: { 'istio.io/rev': 'stable' } }));
    expect(f[0]).toMatchObject({ status: 'warn', reason: expect.stringContaining("not the plan's source revision istio-1-15-7") });
  });

  it('a second gateway with dns: none warns that decommission removes the gateway clients use; with DNS, nothing to say', () => {
    expect(decideCutover({ plan: { ...fieldReport, dns: undefined } })).toEqual([
      expect.objectContaining({ check: 'cutover/dns', status: 'warn', reason: expect.stringContaining('decommission removes') }),
    ]);
    expect(decideCutover({ plan: fieldReport })).toEqual([]);
  });

  it('the gates say what moves and what stays', () => {
    const gate = gatewayMoveGateSummary(plan, 4, 4);
    expect(gate.title).toBe('Move the gateway istio-system/istio-ingressgateway to istio-1-16-5 in place');
    expect(gate.details.join('\n')).toContain('DNS is not changed');
    expect(decommissionGateSummary(plan, undefined, undefined).details).toContain(
      'the gateway istio-system/istio-ingressgateway moved in place to istio-1-16-5: it is kept',
    );
    expect(decommissionGateSummary({ ...fieldReport, dns: undefined }, undefined, undefined).details.at(-1)).toContain(
      'no DNS cutover (dns: none)',
    );
  });
});
