// `meshmove twin snapshot` as a user runs it (the CLI process) against the twin over HTTP:
// the field report's twin snapshotted, a second twin served from that snapshot on the same ports and
// snapshotted again gives the same file (but the `# taken:` line) and reads back the same cluster;
// --anonymize leaves no original namespace or host name and is still a scenario the twin serves
// (and routes); a Secret and a ConfigMap's data never reach the file; bad flags are bad input.
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AdmissionregistrationV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeAccess, ISTIO_RESOURCES } from '../../activities/kube/index.js';
import { startTwin, type Twin } from '../../twin/index.js';
import { loadScenario, parseScenarioYaml, type Scenario } from '../../twin/scenario.js';
import { meshmove } from '../support/cli.js';
import { clientsFor, httpGet } from '../twin/istio-helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SCENARIO = join(root, 'examples/twin/field-report.yaml');
const PLAN = join(root, 'examples/plans/field-report.yaml');
const SECRET_VALUE = 'hunter2-snapshot-secret-value';
const CONFIG_VALUE = 'snapshot-configmap-value-42';

function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const withoutTimestamp = (text: string): string =>
  text
    .split('\n')
    .filter((l) => !l.startsWith('# taken: '))
    .join('\n');

/** What a cluster looks like through the API: what a snapshot must carry over. */
async function readBack(kubeconfig: string): Promise<Record<string, unknown>> {
  const kube = createKubeAccess({ kubeconfig });
  const namespaces = Object.fromEntries(
    (await kube.listNamespaces())
      .filter((n) => !n.metadata!.name!.startsWith('kube-'))
      .map((n) => [n.metadata!.name!, n.metadata!.labels ?? {}]),
  );
  const workloads: Record<string, unknown> = {};
  for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet'] as const) {
    for (const w of await kube.listWorkloads(kind, undefined)) {
      const t = w.spec!.template;
      const image = t.spec!.containers[0]!.image ?? '';
      workloads[`${kind} ${w.metadata!.namespace}/${w.metadata!.name}`] = {
        replicas: (w.spec as { replicas?: number }).replicas,
        labels: t.metadata?.labels ?? {},
        image: image.includes('istio/pilot') ? image : 'app',
      };
    }
  }
  const services = Object.fromEntries(
    (await kube.listServices(undefined))
      .filter((s) => s.metadata!.namespace !== 'default')
      .map((s) => [
        `${s.metadata!.namespace}/${s.metadata!.name}`,
        {
          type: s.spec!.type,
          selector: s.spec!.selector,
          ports: s.spec!.ports!.map((p) => p.port),
          address: s.status?.loadBalancer?.ingress?.[0]?.ip,
        },
      ]),
  );
  const meshConfigs = Object.fromEntries(
    (await kube.listConfigMaps(undefined))
      .filter((c) => /^istio(-.*)?$/.test(c.metadata!.name!) && c.data?.mesh !== undefined)
      .map((c) => [`${c.metadata!.namespace}/${c.metadata!.name}`, c.data!.mesh]),
  );
  const mwcs = (await kube.listMutatingWebhookConfigurations()).map((m) => m.metadata!.name).sort();
  const istioConfig: Record<string, unknown> = {};
  for (const ref of ISTIO_RESOURCES) {
    for (const o of await kube.listCustomObjects(ref, undefined))
      istioConfig[`${ref.kind} ${o.metadata!.namespace}/${o.metadata!.name}`] = o.spec;
  }
  const pods = (await kube.listPods(undefined)).filter((p) => p.status?.phase === 'Running').length;
  return { namespaces, workloads, services, meshConfigs, mwcs, istioConfig, pods };
}

/** The plan pointed at this twin's DNS webhook and resolver (the example's points at the fixed ports). */
async function planFor(dir: string, apiPort: number, dnsPort: number): Promise<string> {
  const text = (await readFile(PLAN, 'utf8'))
    .replace('http://127.0.0.1:17080/_twin/dns', `http://127.0.0.1:${apiPort}/_twin/dns`)
    .replace('"127.0.0.1:15353"', `"127.0.0.1:${dnsPort}"`);
  await copyFile(join(root, 'examples/plans/allowed_signers'), join(dir, 'allowed_signers'));
  const path = join(dir, 'plan.yaml');
  await writeFile(path, text);
  return path;
}

describe('meshmove twin snapshot', () => {
  let dir: string;
  let first: Twin | undefined;
  let second: Twin | undefined;
  let anonymized: Twin | undefined;
  let plan: string;
  let s1: string;
  let firstView: Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshmove-snapshot-'));
    const [apiPort, dnsPort, gw1, gw2] = [await freePort(), await freePort(), await freePort('127.0.0.10'), await freePort('127.0.0.20')];
    first = await startTwin(SCENARIO, {
      apiPort,
      dnsPort,
      gatewayPorts: { 'istio-system/istio-ingressgateway': gw1, 'istio-1-16-5/istio-ingressgateway': gw2 },
      kubeconfigPath: join(dir, 'first.kubeconfig'),
    });
    plan = await planFor(dir, apiPort, dnsPort);
    // Secret material the snapshot must never carry.
    const c = clientsFor(first.kubeconfigPath);
    await c.core.createNamespacedSecret({
      namespace: 'payments',
      body: { metadata: { name: 'payments-db-credentials' }, stringData: { password: SECRET_VALUE } },
    });
    await c.core.createNamespacedConfigMap({
      namespace: 'payments',
      body: { metadata: { name: 'payments-settings' }, data: { 'app.properties': `db.password=${CONFIG_VALUE}` } },
    });
    // Someone else's webhook configuration (selecting no pod): exported as an object, not as a control plane.
    await c.kc.makeApiClient(AdmissionregistrationV1Api).createMutatingWebhookConfiguration({
      body: {
        metadata: { name: 'audit-injector', annotations: { owner: 'team-audit' } },
        webhooks: [
          {
            name: 'audit.example.com',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Ignore',
            clientConfig: { service: { name: 'audit', namespace: 'payments', path: '/mutate' } },
            objectSelector: { matchLabels: { 'meshmove.test/never': 'true' } },
            rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
          },
        ],
      },
    });
  });

  afterAll(async () => {
    for (const t of [anonymized, second, first]) await t?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the field report's cluster as a scenario that says what it is", async () => {
    const out = join(dir, 's1.yaml');
    const r = await meshmove(['twin', 'snapshot', '--kubeconfig', first!.kubeconfigPath, '--plan', plan, '-o', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      output: out,
      anonymized: false,
      lost: 1,
      counts: { controlPlanes: 2, gateways: 2, namespaces: 4, workloads: 5, services: 5, istioConfig: 4, objects: 1, dnsRecords: 2 },
    });
    s1 = await readFile(out, 'utf8');
    expect(s1).toMatch(/^# meshmove twin snapshot of context "meshmove-twin" \(http:\/\/127\.0\.0\.1:\d+\)\n# taken: \d{4}-\d\d-\d\dT/);
    expect(s1).toContain('# Never in a snapshot:');
    expect(s1).toContain('#   - the backends of 1 other MutatingWebhookConfiguration(s)');

    // The same cluster as the hand-written scenario, in every field a scenario can express.
    const snap = parseScenarioYaml(s1, 's1');
    const orig = await loadScenario(SCENARIO);
    const cp = (s: Scenario) =>
      s.controlPlanes.map((c) => ({ ...c, rootCA: undefined })).sort((a, b) => a.revision.localeCompare(b.revision));
    expect(cp(snap)).toEqual(cp(orig));
    expect(snap.sameRootCA).toBe(true);
    const gws = (s: Scenario) => s.gateways.map(({ port: _p, ...g }) => g).sort((a, b) => a.namespace.localeCompare(b.namespace));
    expect(gws(snap)).toEqual(gws(orig));
    const nss = (s: Scenario) =>
      [...s.namespaces]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((n) => ({ ...n, workloads: [...n.workloads].sort((a, b) => a.name.localeCompare(b.name)) }));
    expect(nss(snap)).toEqual(nss(orig));
    const byName = (l: Scenario['istioConfig']) =>
      [...l].sort((a, b) =>
        `${a.kind}/${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.namespace}/${b.metadata.name}`),
      );
    expect(byName(snap.istioConfig)).toEqual(byName(orig.istioConfig));
    expect(snap.dns.records).toEqual(orig.dns.records);
    expect(snap.objects).toEqual([expect.objectContaining({ kind: 'MutatingWebhookConfiguration', metadata: { name: 'audit-injector' } })]);
    expect(snap.ports.api).toBe(Number(new URL(first!.apiUrl).port));
    expect(snap.ports.dns).toBe(first!.dns.port);
  });

  it('carries no Secret and no ConfigMap data', () => {
    expect(s1).toBeDefined();
    for (const leak of [
      'payments-db-credentials',
      SECRET_VALUE,
      'payments-settings',
      CONFIG_VALUE,
      'BEGIN CERTIFICATE',
      'caBundle:',
      'root-cert.pem',
      'meshNetworks',
      'registry.y7test.com',
      'team-audit',
    ]) {
      expect(s1, leak).not.toContain(leak);
    }
  });

  it('round trip: a twin served from the snapshot snapshots the same and reads back the same cluster', async () => {
    expect(s1).toBeDefined();
    firstView = await readBack(first!.kubeconfigPath);
    // The second twin takes the first's ports (from the snapshot): the first has to go.
    const firstKubeconfigServer = first!.apiUrl;
    const anonOut = join(dir, 'anon.yaml');
    const anon = await meshmove(['twin', 'snapshot', '--kubeconfig', first!.kubeconfigPath, '--plan', plan, '--anonymize', '-o', anonOut]);
    expect(anon.code, anon.stderr).toBe(0);
    await first!.close();
    first = undefined;

    second = await startTwin(join(dir, 's1.yaml'), { kubeconfigPath: join(dir, 'second.kubeconfig') });
    expect(second.apiUrl).toBe(firstKubeconfigServer);
    const out = join(dir, 's2.yaml');
    const r = await meshmove(['twin', 'snapshot', '--kubeconfig', second.kubeconfigPath, '--plan', plan, '-o', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${out}`);
    const s2 = await readFile(out, 'utf8');
    expect(withoutTimestamp(s2)).toBe(withoutTimestamp(s1));

    const secondView = await readBack(second.kubeconfigPath);
    // Namespaces, labels, workloads with replicas and pod labels, istiod and gateway objects, mesh
    // config, webhook configurations, Istio config, running pods: all the same.
    expect(secondView).toEqual(firstView);
  });

  it('--anonymize: no original namespace or host name, and the twin serves and routes it', async () => {
    const text = await readFile(join(dir, 'anon.yaml'), 'utf8');
    for (const original of [
      'inventory',
      'payments',
      'orders',
      'frontend',
      'y7test',
      'shop',
      'api.',
      'meshmove-twin',
      '127.0.0.1:',
      'audit',
    ]) {
      expect(text, original).not.toContain(original);
    }
    expect(text).toMatch(/^# meshmove twin snapshot, anonymized/);
    const s = parseScenarioYaml(text, 'anon');
    expect(s.controlPlanes.map((c) => c.revision).sort()).toEqual(['default', 'istio-1-16-5']);
    expect(s.controlPlanes.find((c) => c.revision === 'istio-1-16-5')!.discoverySelectors).toEqual([
      { matchLabels: { usergroup: 'istio-1-16-5' } },
    ]);
    expect(s.namespaces.map((n) => n.workloads.length).sort()).toEqual([1, 1, 1, 2]);
    expect(s.namespaces.every((n) => n.labels['istio-injection'] === 'enabled')).toBe(true);
    // Same input, same pseudonym: the VirtualService's namespace is its destination's namespace.
    const vs = s.istioConfig.filter((o) => o.kind === 'VirtualService');
    expect(vs).toHaveLength(2);
    for (const v of vs) {
      const dest = JSON.stringify(v.spec);
      expect(s.namespaces.some((n) => dest.includes(`.${n.name}.svc.cluster.local`))).toBe(true);
    }

    anonymized = await startTwin(s, { randomPorts: true });
    const view = await readBack(anonymized.kubeconfigPath);
    expect(Object.keys(view.workloads as object)).toHaveLength(Object.keys(firstView.workloads as object).length);
    expect(view.pods).toBe(firstView.pods);
    // A record's host through the gateway it points at still reaches its application.
    const record = s.dns.records[0]!;
    const gw = anonymized.gateways[record.gateway!]!;
    const res = await httpGet(`${gw.url}/`, record.name);
    expect(res.status, res.body).toBe(200);
  });

  it('without -o: the scenario on stdout, the summary on stderr', async () => {
    const r = await meshmove(['twin', 'snapshot', '--kubeconfig', join(dir, 'second.kubeconfig')]);
    expect(r.code, r.stderr).toBe(0);
    expect(parseScenarioYaml(r.stdout, 'stdout').namespaces).toHaveLength(4);
    expect(r.stderr).toContain('wrote the scenario to stdout');
  });

  it('bad input names the flag and exits 2', async () => {
    const noKubeconfig = await meshmove(['twin', 'snapshot', '--kubeconfig', join(dir, 'missing.kubeconfig')]);
    expect(noKubeconfig.code).toBe(2);
    expect(noKubeconfig.stderr).toContain('--kubeconfig');
    const noPlan = await meshmove(['twin', 'snapshot', '--plan', join(dir, 'missing-plan.yaml')]);
    expect(noPlan.code).toBe(2);
    expect(noPlan.stderr).toContain('--plan');
    const jsonToStdout = await meshmove(['twin', 'snapshot', '--json']);
    expect(jsonToStdout.code).toBe(2);
    expect(jsonToStdout.stderr).toContain('-o/--output');
    const badContext = await meshmove(['twin', 'snapshot', '--kubeconfig', join(dir, 'second.kubeconfig'), '--context', 'nope']);
    expect(badContext.code).toBe(2);
    expect(badContext.stderr).toContain('context "nope"');
    const badOutput = await meshmove([
      'twin',
      'snapshot',
      '--kubeconfig',
      join(dir, 'second.kubeconfig'),
      '-o',
      join(dir, 'no-such-dir', 's.yaml'),
    ]);
    expect(badOutput.code).toBe(2);
    expect(badOutput.stderr).toContain('--output');
  });
});
