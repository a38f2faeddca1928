// discoverySelectors (docs/istio-facts.md §3) and the CA writer's scope (docs/istio-facts.md §4), with Istio's own vectors.
import { describe, expect, it } from 'vitest';
import {
  caWriterExcludes,
  discoveredNamespaces,
  discovers,
  enhancedResourceScoping,
  seesConfigIn,
  writesCaRoot,
} from '../../mesh/discovery.js';
import { allowsPassthrough, MeshConfigError, parseMeshConfig, renderMeshConfig } from '../../mesh/meshconfig.js';

const set1 = [
  { matchLabels: { 'pilot-discovery': 'enabled' } },
  { matchExpressions: [{ key: 'env', operator: 'In', values: ['test', 'dev'] }] },
];
const set2 = [
  { matchLabels: { 'discovery-selectors': 'enabled' } },
  { matchExpressions: [{ key: 'istio-tag', operator: 'NotIn', values: ['istio-canary', 'istio-prod'] }] },
];

describe('discovers (docs/istio-facts.md §3 vectors)', () => {
  it.each([
    [set1, { 'pilot-discovery': 'enabled' }, true],
    [set1, {}, false],
    [set1, { env: 'test' }, true],
    [set1, { 'pilot-discovery': 'disabled' }, false],
    [set2, { 'istio-tag': 'istio-dev' }, true],
    [set2, { 'istio-tag': 'istio-canary' }, false],
    [set2, {}, true], // NotIn with the key absent
    [undefined, {}, true],
    [[], { a: 'b' }, true],
    [[{}], { a: 'b' }, true],
    [[{ matchLabels: { usergroup: 'istio-1-16-5' } }], { usergroup: 'istio-1-16-5' }, true],
    [[{ matchLabels: { usergroup: 'istio-1-16-5' } }], { 'istio-injection': 'enabled' }, false],
    [[{ matchLabels: { a: 'b' }, matchExpressions: [{ key: 'c', operator: 'Exists' }] }], { a: 'b' }, false],
  ])('%j on %j → %s', (sel, labels, want) => {
    expect(discovers(sel, labels)).toBe(want);
  });

  it('an invalid operator is an error, not a silent miss', () => {
    expect(() => discovers([{ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }], {})).toThrow(/not a valid/);
  });

  it('filters a namespace list', () => {
    expect(discoveredNamespaces(set1, [{ name: 'a', labels: { env: 'dev' } }, { name: 'b' }])).toEqual(['a']);
  });
});

describe('enhanced resource scoping and the CA writer (docs/istio-facts.md §3, §4)', () => {
  it.each([
    ['1.16.5', undefined, false],
    ['1.16.5', true, true],
    ['1.21.0', undefined, false],
    ['1.22.1', undefined, true],
    ['1.24.0', false, false],
    ['1.25.0', false, true],
    ['1.16.5-tke.1', undefined, false],
    ['nonsense', undefined, false],
  ])('%s flag %s → %s', (v, flag, want) => {
    expect(enhancedResourceScoping(v, flag)).toBe(want);
  });

  it('excluded namespaces', () => {
    expect(caWriterExcludes('kube-system', '1.16.5')).toBe(true);
    expect(caWriterExcludes('kube-system', '1.22.0')).toBe(false);
    expect(caWriterExcludes('kube-public', '1.25.0')).toBe(true);
    expect(caWriterExcludes('kube-node-lease', '1.16.5')).toBe(true);
    expect(caWriterExcludes('local-path-storage', '1.16.5')).toBe(true);
    expect(caWriterExcludes('default', '1.16.5')).toBe(false);
  });

  const community = { version: '1.16.5', discoverySelectors: [{ matchLabels: { usergroup: 'istio-1-16-5' } }] };
  it('1.16 without enhanced scoping writes every namespace, ignoring discoverySelectors', () => {
    expect(writesCaRoot(community, 'orders', { 'istio-injection': 'enabled' })).toBe(true);
    expect(seesConfigIn(community, {})).toBe(true);
  });
  it('with enhanced scoping it writes only discovered namespaces', () => {
    const scoped = { ...community, enhancedResourceScoping: true };
    expect(writesCaRoot(scoped, 'orders', { 'istio-injection': 'enabled' })).toBe(false);
    expect(writesCaRoot(scoped, 'orders', { usergroup: 'istio-1-16-5' })).toBe(true);
    expect(seesConfigIn(scoped, {})).toBe(false);
    expect(writesCaRoot(scoped, 'kube-public', { usergroup: 'istio-1-16-5' })).toBe(false);
  });
});

describe('mesh config (docs/istio-facts.md §7)', () => {
  it('defaults: all namespaces, ALLOW_ANY', () => {
    expect(parseMeshConfig(undefined)).toEqual({ discoverySelectors: [], outboundTrafficPolicyMode: 'ALLOW_ANY' });
    expect(parseMeshConfig('{}')).toEqual({ discoverySelectors: [], outboundTrafficPolicyMode: 'ALLOW_ANY' });
    expect(parseMeshConfig('outboundTrafficPolicy: {}\n').outboundTrafficPolicyMode).toBe('ALLOW_ANY');
  });
  it('reads selectors and the mode, and round-trips through render', () => {
    const text =
      'discoverySelectors:\n- matchLabels:\n    usergroup: istio-1-16-5\noutboundTrafficPolicy:\n  mode: REGISTRY_ONLY\nrootNamespace: istio-1-16-5\n';
    const v = parseMeshConfig(text);
    expect(v).toEqual({
      discoverySelectors: [{ matchLabels: { usergroup: 'istio-1-16-5' } }],
      outboundTrafficPolicyMode: 'REGISTRY_ONLY',
      rootNamespace: 'istio-1-16-5',
    });
    expect(parseMeshConfig(renderMeshConfig(v))).toEqual(v);
    expect(allowsPassthrough(v.outboundTrafficPolicyMode)).toBe(false);
    expect(allowsPassthrough('ALLOW_ANY')).toBe(true);
    expect(allowsPassthrough('ALLOW_ANY_DYNAMIC_DNS')).toBe(true);
  });
  it.each([
    ['outboundTrafficPolicy:\n  mode: allow_any\n', /not one of/],
    ['discoverySelectors: {a: b}\n', /list/],
    ['- a\n', /mapping/],
    ['a: [\n', /not valid YAML/],
  ])('%j is rejected', (text, msg) => {
    expect(() => parseMeshConfig(text)).toThrow(MeshConfigError);
    expect(() => parseMeshConfig(text)).toThrow(msg);
  });
});
