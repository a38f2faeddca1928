// The revision-tag path's pure decisions: where the tag's configuration must point and the patch
// that gets it there, the webhooks preflight judges injection on, what preflight says about the
// tag, and a namespace moved back while the tag still calls the target (pinned to the source).
import type { V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { injectingRevision, istioInjectorWebhookConfiguration } from '../../mesh/injection.js';
import { afterTagSwitch, decideTagPoint } from '../../activities/tag/point.js';
import { decideTag, type TagView } from '../../activities/preflight/cutover.js';
import { decideRestore, TAG_PINNED_ANNOTATION } from '../../activities/namespace/labels.js';
import { relabelFor, type Plan } from '../../plan/schema.js';
import { loadPlan } from '../../plan/load.js';
import type { ControlPlaneScope } from '../../activities/shared/control-plane-scope.js';

const { plan: upgrade } = await loadPlan('examples/plans/revision-upgrade.yaml');
const plan: Plan = { ...upgrade, target: { ...upgrade.target, tag: 'prod' } };
const SOURCE = 'istio-1-15-7';
const TARGET = 'istio-1-16-5';

const mwc = (rev: string, ns: string, tag?: string): V1MutatingWebhookConfiguration =>
  istioInjectorWebhookConfiguration(rev, {
    isDefault: false,
    istiodNamespace: ns,
    ...(tag ? { tag } : {}),
    caBundle: `ca-${rev}`,
  }) as V1MutatingWebhookConfiguration;
const cluster = [mwc(SOURCE, 'istio-system'), mwc(TARGET, 'istio-1-16-5'), mwc(SOURCE, 'istio-system', 'prod')];
const unscoped: ControlPlaneScope = {
  scoped: false,
  basis: 'Istio 1.16.5 without ENABLE_ENHANCED_RESOURCE_SCOPING',
  discoverySelectors: [],
};

describe('pointing the tag', () => {
  it('at the target: every webhook calls the target istiod with its caBundle, and the configuration is labeled for it', () => {
    const d = decideTagPoint(cluster, plan, 'target');
    if ('error' in d) throw new Error(d.error);
    expect(d.name).toBe('istio-revision-tag-prod');
    const patch = d.patch as { metadata: { labels: Record<string, string> }; webhooks: { name: string; clientConfig: unknown }[] };
    expect(patch.metadata.labels).toEqual({ 'istio.io/rev': TARGET });
    expect(patch.webhooks.map((w) => w.name)).toEqual(cluster[2]!.webhooks!.map((w) => w.name));
    for (const w of patch.webhooks)
      expect(w.clientConfig).toEqual({
        service: { name: `istiod-${TARGET}`, namespace: 'istio-1-16-5', path: '/inject', port: 443 },
        caBundle: `ca-${TARGET}`,
      });
  });

  it('already there: no patch; missing, duplicated, or no injector to copy: an error naming the fix', () => {
    const moved = afterTagSwitch(cluster, plan);
    const again = decideTagPoint(moved, plan, 'target');
    expect('error' in again ? again.error : again.patch).toBeUndefined();
    expect(decideTagPoint(cluster.slice(0, 2), plan, 'target')).toEqual({
      error: expect.stringContaining(`istioctl tag set prod --revision ${SOURCE}`),
    });
    expect(decideTagPoint([...cluster, { ...cluster[2]!, metadata: { ...cluster[2]!.metadata, name: 'copy' } }], plan, 'target')).toEqual({
      error: expect.stringContaining('keep one'),
    });
    expect(decideTagPoint([cluster[0]!, cluster[2]!], plan, 'target')).toEqual({ error: expect.stringContaining('has no injector') });
  });

  it('preflight judges injection on the switched tag: a namespace on the tag gets the target', () => {
    const labels = { 'istio.io/rev': 'prod', usergroup: TARGET };
    expect(injectingRevision(cluster, labels, {}).revision).toBe(SOURCE);
    expect(injectingRevision(afterTagSwitch(cluster, plan), labels, {}).revision).toBe(TARGET);
    expect(relabelFor(plan).set).toEqual({ 'istio.io/rev': 'prod', usergroup: TARGET });
  });
});

describe('preflight on the tag', () => {
  const view = (v: Partial<TagView>): TagView => ({ plan, mwcs: cluster, onTag: [], plannedOffTag: [], targetScope: unscoped, ...v });

  it('calls the source today: pass; already the target: warn; neither: block', () => {
    expect(decideTag(view({}))[0]).toMatchObject({ check: 'cutover/tag', status: 'pass' });
    expect(decideTag(view({ mwcs: afterTagSwitch(cluster, plan) }))[0]).toMatchObject({
      status: 'warn',
      reason: expect.stringContaining('already calls'),
    });
    const elsewhere = [...cluster.slice(0, 2), mwc('istio-1-14-0', 'istio-old', 'prod')];
    expect(decideTag(view({ mwcs: [...elsewhere, mwc('istio-1-14-0', 'istio-old')] }))[0]).toMatchObject({ status: 'block' });
  });

  it('namespaces on the tag outside the plan are named; undiscovered ones block where discoverySelectors scope the CA writer', () => {
    const onTag = [
      { name: 'inventory', labels: { 'istio.io/rev': 'prod' } },
      { name: 'batch', labels: { 'istio.io/rev': 'prod' } },
    ];
    const scoped: ControlPlaneScope = { scoped: true, basis: 'Istio 1.22', discoverySelectors: [{ matchLabels: { usergroup: TARGET } }] };
    const f = decideTag(view({ onTag, targetScope: scoped }));
    expect(f.find((x) => x.check === 'cutover/tag-namespaces')).toMatchObject({ status: 'warn', reason: expect.stringContaining('batch') });
    expect(f.find((x) => x.check === 'cutover/tag-discovery')).toMatchObject({
      status: 'block',
      reason: expect.stringContaining('inventory, batch'),
    });
    expect(
      decideTag(view({ onTag, targetScope: { ...scoped, scoped: false } })).find((x) => x.check === 'cutover/tag-discovery')?.status,
    ).toBe('warn');
  });
});

describe('a namespace moved back while the tag calls the target', () => {
  it('is pinned to the source revision and remembers the tag; without a tag in its labels, nothing is pinned', () => {
    const ns = { labels: { 'istio.io/rev': 'prod', usergroup: TARGET }, annotations: {}, resourceVersion: '7' };
    const d = decideRestore(ns, plan, 'run-1', { 'istio.io/rev': 'prod' }, { tag: 'prod', revision: SOURCE });
    expect(d.patch?.metadata.labels).toEqual({ 'istio.io/rev': SOURCE, usergroup: null });
    expect(JSON.parse(d.patch!.metadata.annotations![TAG_PINNED_ANNOTATION]!)).toEqual({ 'run-1': 'prod' });
    const plain = decideRestore(ns, plan, 'run-1', { 'istio.io/rev': SOURCE }, { tag: 'prod', revision: SOURCE });
    expect(plain.patch?.metadata.annotations).toBeUndefined();
  });
});
