// proxy-status semantics (docs/istio-facts.md §6) and the sidecar revision (docs/istio-facts.md §5).
import { describe, expect, it } from 'vitest';
import { findProxy, hasSidecar, parseSyncz, proxySyncStatus, sidecarRevision, xdsTypeStatus } from '../../mesh/syncz.js';

describe('per-type status', () => {
  it.each([
    [undefined, undefined, 'NOT SENT'],
    ['', 'n1', 'NOT SENT'],
    ['n1', 'n1', 'SYNCED'],
    ['n1', '', 'STALE'],
    ['n1', undefined, 'STALE'],
    ['n2', 'n1', 'STALE'],
  ])('sent %j acked %j → %s', (s, a, want) => {
    expect(xdsTypeStatus(s, a)).toBe(want);
  });
});

describe('overall proxy status', () => {
  const synced = {
    proxy: 'web-1.orders',
    cluster_sent: 'a',
    cluster_acked: 'a',
    listener_sent: 'b',
    listener_acked: 'b',
    route_sent: 'c',
    route_acked: 'c',
    endpoint_sent: 'd',
    endpoint_acked: 'd',
  };
  it('all sent types acked → SYNCED, unsent ECDS does not spoil it', () => {
    const p = proxySyncStatus(synced);
    expect(p).toMatchObject({ pod: 'web-1', namespace: 'orders', overall: 'SYNCED' });
    expect(p.perType.extensionconfig).toBe('NOT SENT');
  });
  it('one type behind → STALE; never acked is reported', () => {
    const p = proxySyncStatus({ ...synced, endpoint_acked: undefined });
    expect(p.overall).toBe('STALE');
    expect(p.neverAcknowledged).toEqual(['endpoint']);
    expect(proxySyncStatus({ ...synced, route_acked: 'old' }).neverAcknowledged).toEqual([]);
  });
  it('nothing sent → NOT SENT', () => {
    expect(proxySyncStatus({ proxy: 'p.ns' }).overall).toBe('NOT SENT');
  });
  it('parses a body and finds a proxy by pod and namespace', () => {
    const entries = parseSyncz([synced, { proxy: 3 }, null, { proxy: 'x.y', cluster_sent: 'a', bogus: 1 }]);
    expect(entries.map((e) => e.proxy)).toEqual(['web-1.orders', 'x.y']);
    expect(findProxy(entries, 'web-1', 'orders')?.overall).toBe('SYNCED');
    expect(findProxy(entries, 'web-1', 'payments')).toBeNull();
    expect(() => parseSyncz({})).toThrow(/array/);
  });
});

describe('sidecarRevision', () => {
  const status = (o: unknown) => ({ metadata: { annotations: { 'sidecar.istio.io/status': JSON.stringify(o) } } });
  it.each([
    [{ metadata: {} }, null, false],
    [status({ containers: ['istio-proxy'], revision: 'istio-1-16-5' }), 'istio-1-16-5', true],
    [status({ containers: ['istio-proxy'] }), null, true],
    [{ metadata: { annotations: { 'sidecar.istio.io/status': '{bad' } } }, null, false],
    // an istio.io/rev label is not how the revision is recorded (docs/istio-facts.md §5 Correction)
    [{ metadata: { labels: { 'istio.io/rev': 'x' } } }, null, false],
  ])('%j → %s', (pod, rev, injected) => {
    expect(sidecarRevision(pod)).toBe(rev);
    expect(hasSidecar(pod)).toBe(injected);
  });
});
