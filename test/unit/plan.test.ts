// The plan: the shipped example is valid; bad plans get every problem at once, each with its path
// and line; durations are normalized to milliseconds.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadPlan, parsePlanText, PlanError } from '../../plan/load.js';
import { relabelFor, type PlanInput } from '../../plan/schema.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Public halves of throwaway keys (the example plan's allowed_signers).
const ALICE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGckc7obHWRGbT1sJ6qYoaGFcimPNQMAEaKNFCTulS7S alice@example';
const BOB_KEY =
  'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCWkCUVrxyThQR5+IzpsXBLtiS4vbdhBTfCAzsZhot5tEuffIbmgGbsJLg2IbyU7JucE9zjF8Fzmmihy7qk/R6E= bob@example';

const valid: PlanInput = {
  apiVersion: 'meshmove.dev/v1alpha1',
  kind: 'MigrationPlan',
  metadata: { name: 'p' },
  source: {
    revision: 'default',
    istiodNamespace: 'istio-system',
    gateway: { namespace: 'istio-system', service: 'gw', selector: { istio: 'ingressgateway' } },
  },
  target: {
    revision: 'canary',
    istiodNamespace: 'istio-canary',
    discoveryLabels: { usergroup: 'canary' },
    gateway: { namespace: 'istio-canary', service: 'gw', selector: { istio: 'new' } },
  },
  waves: [{ name: 'w1', concurrency: 2, namespaces: ['a', 'b'] }],
  approvers: [
    { name: 'alice', keys: [ALICE_KEY] },
    { name: 'bob', keys: [BOB_KEY] },
  ],
  dns: { provider: { type: 'manual' }, resolvers: ['10.0.0.2'], ttl: '30s', records: [{ name: 'shop.example.com' }] },
  backup: { location: './backups' },
};
const validDns = valid.dns as Exclude<PlanInput['dns'], 'none'>;

function problems(plan: unknown): { path: string; message: string; line?: number }[] {
  try {
    parsePlanText(stringify(plan), 'plan.yaml');
  } catch (err) {
    if (err instanceof PlanError) return err.problems;
    throw err;
  }
  return [];
}

describe('plan', () => {
  it('the field-report example is valid and normalized', async () => {
    const { plan, digest } = await loadPlan('examples/plans/field-report.yaml');
    expect(plan.target.revision).toBe('istio-1-16-5');
    expect(plan.dns!.ttl).toBe(30_000);
    expect(plan.restart.timeout).toBe(600_000);
    expect(plan.gates.expiresAfter).toBe(86_400_000);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(relabelFor(plan)).toEqual({ set: { 'istio.io/rev': 'istio-1-16-5', usergroup: 'istio-1-16-5' }, remove: ['istio-injection'] });
  });

  it('defaults: gates on, four-eyes, pause on failure', () => {
    const plan = parsePlanText(stringify(valid));
    expect(plan.gates).toEqual({
      start: true,
      namespace: false,
      dnsCutover: true,
      gatewayMove: true,
      decommission: true,
      expiresAfter: 86_400_000,
    });
    expect(plan.fourEyes).toBe(true);
    expect(plan.failurePolicy).toEqual({ onNamespaceFailure: 'pause', failureBudget: 1 });
    expect(plan.dns!.stabilityWindow).toBe(30_000);
    expect(plan.identity).toBe('signed');
  });

  it('approvers are keys: inline or from a git allowed_signers file, resolved into the plan (and its digest)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'meshmove-plan-'));
    writeFileSync(
      join(dir, 'allowed_signers'),
      `# team\nalice,ops@* namespaces="git,meshmove" ${ALICE_KEY}\nbob namespaces="git" ${BOB_KEY}\nbob ${BOB_KEY}\n`,
    );
    writeFileSync(
      join(dir, 'plan.yaml'),
      stringify({
        ...valid,
        approvers: [
          { name: 'alice', allowedSigners: 'allowed_signers' },
          { name: 'bob', allowedSigners: 'allowed_signers', gates: ['dns-cutover'] },
        ],
      }),
    );
    const { plan } = await loadPlan(join(dir, 'plan.yaml'));
    // bob's namespaces="git" line is not for meshmove; his plain line is.
    expect(plan.approvers).toEqual([
      { name: 'alice', keys: [ALICE_KEY.split(' ').slice(0, 2).join(' ')] },
      { name: 'bob', keys: [BOB_KEY.split(' ').slice(0, 2).join(' ')], gates: ['dns-cutover'] },
    ]);
    writeFileSync(
      join(dir, 'nobody.yaml'),
      stringify({
        ...valid,
        approvers: [
          { name: 'carol', allowedSigners: 'allowed_signers' },
          { name: 'bob', allowedSigners: 'missing' },
        ],
      }),
    );
    const err = await loadPlan(join(dir, 'nobody.yaml')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlanError);
    expect((err as PlanError).problems.map((p) => p.path)).toEqual(['approvers[0].allowedSigners', 'approvers[1].allowedSigners']);
    expect((err as PlanError).problems[0]!.message).toContain('lists no key for "carol"');
  });

  it('identity: names need "identity: unverified"; keys must be usable SSH keys', () => {
    expect(problems({ ...valid, approvers: ['alice', 'bob'] })).toEqual([
      expect.objectContaining({ path: 'approvers[0]', message: expect.stringContaining('approver "alice" has no key') }),
      expect.objectContaining({ path: 'approvers[1]', message: expect.stringContaining('approver "bob" has no key') }),
    ]);
    expect(parsePlanText(stringify({ ...valid, identity: 'unverified', approvers: ['alice', 'bob'] })).approvers).toEqual([
      { name: 'alice', keys: [] },
      { name: 'bob', keys: [] },
    ]);
    expect(
      problems({
        ...valid,
        approvers: [
          { name: 'alice', keys: ['ssh-dss AAAAB3NzaC1kc3MAAACBAP'] },
          { name: 'bob', keys: [BOB_KEY] },
        ],
      })[0],
    ).toMatchObject({ path: 'approvers[0].keys[0]', message: expect.stringContaining('not a usable SSH public key') });
  });

  it.each([
    [{ waves: [{ name: 'w1', concurrency: 0, namespaces: ['a'] }] }, 'waves[0].concurrency', 'at least 1'],
    [{ waves: [{ name: 'w1', concurrency: 1, prepareAhead: -1, namespaces: ['a'] }] }, 'waves[0].prepareAhead', '0 (the default) or more'],
    [{ waves: [{ name: 'w1', concurrency: 1, namespaces: ['Bad_NS'] }] }, 'waves[0].namespaces[0]', 'namespace name'],
    [{ waves: [{ name: 'w1', concurrency: 1, namespaces: ['a', 'a'] }] }, 'waves[0].namespaces[1]', 'already planned'],
    [{ waves: [{ name: 'w1', concurrency: 1, namespaces: ['istio-system'] }] }, 'waves', 'control-plane namespace'],
    [{ approvers: [] }, 'approvers', 'nobody may approve'],
    [{ approvers: ['alice'] }, 'approvers', 'fourEyes needs at least two'],
    [{ target: { ...valid.target, revision: 'default', istiodNamespace: 'istio-system' } }, 'target.revision', 'its own revision'],
    [{ target: { ...valid.target, discoveryLabels: { 'bad key!': 'x' } } }, 'target.discoveryLabels.bad key!', 'a label key such as'],
    [{ dns: { ...validDns, ttl: '5 minutes' } }, 'dns.ttl', 'a duration such as'],
    [{ target: { ...valid.target, gateway: { namespace: 'istio-canary', service: 'gw' } } }, 'target.gateway.selector', 'required'],
    [{ dns: { ...validDns, provider: { type: 'webhook', url: 'ftp://x' } } }, 'dns.provider.url', 'http'],
    [{ colour: 'red' }, '', 'unknown field "colour"'],
    [
      { verification: { crossNamespace: [{ from: 'zzz', url: 'http://x.y.svc:80/' }] } },
      'verification.crossNamespace[0].from',
      'not a planned namespace',
    ],
  ])('refuses %j at %s', (patch, path, message) => {
    const found = problems({ ...valid, ...patch });
    expect(
      found.find((p) => p.path === path && p.message.includes(message)),
      JSON.stringify(found),
    ).toBeDefined();
  });

  it('dns: none runs without a DNS cutover; a second gateway stays as written', () => {
    const plan = parsePlanText(stringify({ ...valid, dns: 'none' }));
    expect(plan.dns).toBeUndefined();
    expect(plan.target.gateway).toEqual(valid.target.gateway);
    expect(plan.target.gatewayMove).toBeUndefined();
  });

  it('target.gateway: in-place is the source gateway, moved; it needs dns: none', () => {
    const plan = parsePlanText(stringify({ ...valid, target: { ...valid.target, gateway: 'in-place' }, dns: 'none' }));
    expect(plan.target.gateway).toEqual(plan.source.gateway);
    expect(plan.target.gatewayMove).toBe('in-place');
    expect(problems({ ...valid, target: { ...valid.target, gateway: 'in-place' } })).toEqual([
      expect.objectContaining({ path: 'dns', message: expect.stringContaining('set dns: none') }),
    ]);
    expect(problems({ ...valid, target: { ...valid.target, gateway: 'inplace' } })).toEqual([
      expect.objectContaining({ path: 'target.gateway', message: expect.stringContaining('"in-place"') }),
    ]);
    expect(problems({ ...valid, dns: 'off' })).toEqual([
      expect.objectContaining({ path: 'dns', message: expect.stringContaining('"none"') }),
    ]);
  });

  it('the revision-upgrade example is valid: the gateway in place, no DNS', async () => {
    const { plan } = await loadPlan('examples/plans/revision-upgrade.yaml');
    expect(plan.target.gatewayMove).toBe('in-place');
    expect(plan.target.gateway).toEqual(plan.source.gateway);
    expect(plan.dns).toBeUndefined();
  });

  it('reports every problem at once, cross-field ones too, each with a line', () => {
    const found = problems({
      ...valid,
      metadata: { name: 'Bad' },
      waves: [{ name: 'w', concurrency: 0, namespaces: ['a', 'a'] }],
      approvers: ['alice'],
    });
    expect(found.map((p) => p.path)).toEqual(
      expect.arrayContaining(['metadata.name', 'waves[0].concurrency', 'waves[0].namespaces[1]', 'approvers']),
    );
    expect(found.every((p) => typeof p.line === 'number')).toBe(true);
  });

  it('analysis: defaults in milliseconds; bad values and the old prometheusUrl named with the fix', () => {
    const plan = parsePlanText(stringify({ ...valid, analysis: { prometheus: { url: 'http://prom:9090' } } }));
    expect(plan.analysis).toEqual({
      prometheus: { url: 'http://prom:9090', timeout: 10_000 },
      interval: 10_000,
      baseline: { window: 300_000 },
      namespace: { window: 60_000, maxErrorRateIncrease: 0.01 },
      cutover: { window: 60_000, timeout: 600_000 },
      drain: { window: 120_000, timeout: 3_600_000 },
    });
    expect(parsePlanText(stringify(valid)).analysis).toBeUndefined();
    const found = problems({
      ...valid,
      verification: { prometheusUrl: 'http://prom:9090' },
      analysis: {
        prometheus: { url: 'prom:9090', authHeaderEnv: 'lower-case' },
        namespace: { maxErrorRateIncrease: 5 },
        drain: { window: 'soon' },
      },
    });
    const at = (path: string) => found.find((p) => p.path === path)?.message ?? `nothing at ${path}: ${JSON.stringify(found)}`;
    expect(at('verification.prometheusUrl')).toContain('moved: name the Prometheus in analysis.prometheus.url');
    expect(at('analysis.prometheus.url')).toContain('an http:// or https:// URL');
    expect(at('analysis.prometheus.authHeaderEnv')).toContain('the NAME of an environment variable');
    expect(at('analysis.namespace.maxErrorRateIncrease')).toContain('a fraction between 0 and 1');
    expect(at('analysis.drain.window')).toContain('a duration such as "30s"');
  });

  it('not YAML at all, or a missing file', async () => {
    expect(() => parsePlanText('just: [unclosed', 'p.yaml')).toThrow(/p\.yaml:1:\d+ \(plan\): not valid YAML\/JSON/);
    expect(problems('a string, not a plan')[0]?.message).toContain('expected object');
    await expect(loadPlan('/nonexistent/plan.yaml')).rejects.toThrow('no such file');
  });
});
