// The twin's API server through the real @kubernetes/client-node client (and kubectl) over HTTP:
// CRUD, the strict errors, the patch types, selectors, watch, discovery, faults and counters.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { untilServer } from './poll-apiserver.js';
import { startApiServer, type ApiServer } from '../../twin/apiserver/index.js';

const run = promisify(execFile);
const { setHeaderOptions, PatchStrategy } = k8s;

interface ApiErr {
  code: number;
  body: {
    kind: string;
    reason: string;
    message: string;
    code: number;
    details?: { causes?: Array<{ field: string; reason: string }>; retryAfterSeconds?: number };
  };
  headers: Record<string, string>;
}

async function apiError(p: Promise<unknown>): Promise<ApiErr> {
  try {
    await p;
  } catch (e) {
    const ex = e as { code?: number; body?: unknown; headers?: Record<string, string> };
    if (typeof ex.code !== 'number') throw e;
    return {
      code: ex.code,
      body: typeof ex.body === 'string' ? (JSON.parse(ex.body) as ApiErr['body']) : (ex.body as ApiErr['body']),
      headers: ex.headers ?? {},
    };
  }
  throw new Error('expected the request to fail');
}

let server: ApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let custom: k8s.CustomObjectsApi;
let dir: string;

beforeAll(async () => {
  server = await startApiServer({ podStartDelayMs: 5, rolloutPodDelayMs: 5, watchCacheSize: 40, logger: pino({ level: 'silent' }) });
  kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfigYaml());
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  custom = kc.makeApiClient(k8s.CustomObjectsApi);
  dir = await mkdtemp(join(tmpdir(), 'twin-apiserver-'));
  await core.createNamespace({ body: { metadata: { name: 'demo-a', labels: { team: 'a' } } } });
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const deployment = (name: string, replicas = 1): k8s.V1Deployment => ({
  metadata: { name, labels: { app: name } },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        containers: [
          { name: 'app', image: 'nginx:1.25' },
          { name: 'side', image: 'busybox:1.36' },
        ],
      },
    },
  },
});

describe('CRUD and strict errors', () => {
  it('creates, reads, updates and deletes a configmap, with server-set metadata', async () => {
    const created = await core.createNamespacedConfigMap({ namespace: 'demo-a', body: { metadata: { name: 'cfg' }, data: { a: '1' } } });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    expect(Number(created.metadata?.resourceVersion)).toBeGreaterThan(0);
    const read = await core.readNamespacedConfigMap({ namespace: 'demo-a', name: 'cfg' });
    expect(read.data).toEqual({ a: '1' });
    const updated = await core.replaceNamespacedConfigMap({ namespace: 'demo-a', name: 'cfg', body: { ...read, data: { a: '2' } } });
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(read.metadata?.resourceVersion));
    // The first read's resourceVersion is now stale.
    const stale = await apiError(
      core.replaceNamespacedConfigMap({ namespace: 'demo-a', name: 'cfg', body: { ...read, data: { a: '3' } } }),
    );
    expect(stale.code).toBe(409);
    expect(stale.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      details: { name: 'cfg', kind: 'configmaps' },
    });
    expect(stale.body.message).toContain('the object has been modified');
    const dup = await apiError(core.createNamespacedConfigMap({ namespace: 'demo-a', body: { metadata: { name: 'cfg' } } }));
    expect(dup.body).toMatchObject({ reason: 'AlreadyExists', code: 409, message: 'configmaps "cfg" already exists' });
    await core.deleteNamespacedConfigMap({ namespace: 'demo-a', name: 'cfg' });
    const gone = await apiError(core.readNamespacedConfigMap({ namespace: 'demo-a', name: 'cfg' }));
    expect(gone.body).toMatchObject({ reason: 'NotFound', code: 404, message: 'configmaps "cfg" not found' });
  });

  it('rejects invalid names and label values with 422 Invalid and causes', async () => {
    const badLabel = await apiError(core.createNamespace({ body: { metadata: { name: 'ok-name', labels: { team: 'not ok!' } } } }));
    expect(badLabel.code).toBe(422);
    expect(badLabel.body.reason).toBe('Invalid');
    expect(badLabel.body.details?.causes).toEqual([expect.objectContaining({ field: 'metadata.labels', reason: 'FieldValueInvalid' })]);
    const badKey = await apiError(core.createNamespace({ body: { metadata: { name: 'ok-name', labels: { 'bad key': 'v' } } } }));
    expect(badKey.code).toBe(422);
    const badName = await apiError(core.createNamespace({ body: { metadata: { name: 'Not_A_Label' } } }));
    expect(badName.code).toBe(422);
    expect(badName.body.details?.causes?.[0]?.field).toBe('metadata.name');
    const noImage = await apiError(
      core.createNamespacedPod({
        namespace: 'demo-a',
        body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c' } as k8s.V1Container] } },
      }),
    );
    expect(noImage.body.details?.causes?.[0]).toMatchObject({ field: 'spec.containers[0].image', reason: 'FieldValueRequired' });
    const selectorMismatch = await apiError(
      apps.createNamespacedDeployment({
        namespace: 'demo-a',
        body: { ...deployment('mismatch'), spec: { ...deployment('mismatch').spec!, selector: { matchLabels: { app: 'other' } } } },
      }),
    );
    expect(selectorMismatch.code).toBe(422);
  });

  it('answers 404 for unknown resources, groups and namespaces', async () => {
    const unknownResource = await fetch(`${server.url}/api/v1/namespaces/demo-a/widgets`);
    expect(unknownResource.status).toBe(404);
    expect(await unknownResource.json()).toMatchObject({ kind: 'Status', reason: 'NotFound', code: 404 });
    expect((await fetch(`${server.url}/apis/nope.example.com/v1/things`)).status).toBe(404);
    expect((await fetch(`${server.url}/apis/networking.istio.io/v9/gateways`)).status).toBe(404);
    const noNs = await apiError(core.createNamespacedConfigMap({ namespace: 'missing', body: { metadata: { name: 'x' } } }));
    expect(noNs.body).toMatchObject({ reason: 'NotFound', message: 'namespaces "missing" not found' });
  });

  it('serves the Istio kinds under both networking versions and requires kind and resourceVersion for them', async () => {
    const vs = {
      apiVersion: 'networking.istio.io/v1beta1',
      kind: 'VirtualService',
      metadata: { name: 'web' },
      spec: { hosts: ['web.y7test.com'], http: [{ route: [{ destination: { host: 'web' } }] }] },
    };
    await custom.createNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1beta1',
      namespace: 'demo-a',
      plural: 'virtualservices',
      body: vs,
    });
    const asAlpha = (await custom.getNamespacedCustomObject({
      group: 'networking.istio.io',
      version: 'v1alpha3',
      namespace: 'demo-a',
      plural: 'virtualservices',
      name: 'web',
    })) as { apiVersion: string; metadata: { generation: number } };
    expect(asAlpha.apiVersion).toBe('networking.istio.io/v1alpha3');
    expect(asAlpha.metadata.generation).toBe(1);
    const noKind = await apiError(
      custom.createNamespacedCustomObject({
        group: 'networking.istio.io',
        version: 'v1beta1',
        namespace: 'demo-a',
        plural: 'gateways',
        body: { metadata: { name: 'gw' } },
      }),
    );
    expect(noKind.code).toBe(400);
    const noRv = await apiError(
      custom.replaceNamespacedCustomObject({
        group: 'networking.istio.io',
        version: 'v1beta1',
        namespace: 'demo-a',
        plural: 'virtualservices',
        name: 'web',
        body: vs,
      }),
    );
    expect(noRv.code).toBe(422);
    const pa = (await custom.createNamespacedCustomObject({
      group: 'security.istio.io',
      version: 'v1beta1',
      namespace: 'demo-a',
      plural: 'peerauthentications',
      body: {
        apiVersion: 'security.istio.io/v1beta1',
        kind: 'PeerAuthentication',
        metadata: { name: 'default' },
        spec: { mtls: { mode: 'STRICT' } },
      },
    })) as { metadata: { uid: string } };
    expect(pa.metadata.uid).toBeTruthy();
  });
});

describe('seed', () => {
  it('creates scenario objects namespaces first and labels existing namespaces', async () => {
    await server.seed([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'seeded', namespace: 'seeded-ns' }, data: { a: '1' } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'seeded-ns', labels: { usergroup: 'istio-1-16-5' } } },
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default', labels: { 'istio-injection': 'enabled' } } },
    ]);
    expect((await core.readNamespacedConfigMap({ namespace: 'seeded-ns', name: 'seeded' })).data).toEqual({ a: '1' });
    expect((await core.readNamespace({ name: 'default' })).metadata?.labels).toMatchObject({
      'istio-injection': 'enabled',
      'kubernetes.io/metadata.name': 'default',
    });
    await expect(
      server.seed([{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bad', namespace: 'seeded-ns', labels: { x: 'bad value' } } }]),
    ).rejects.toThrow(/invalid/);
  });
});

describe('patch', () => {
  it('applies merge, strategic merge, JSON patch and server-side apply; other content types get 415', async () => {
    await core.createNamespace({ body: { metadata: { name: 'patch-me', labels: { keep: 'yes', drop: 'yes' } } } });
    const merged = await core.patchNamespace(
      { name: 'patch-me', body: { metadata: { labels: { drop: null, added: 'v' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merged.metadata?.labels).toEqual({ keep: 'yes', added: 'v', 'kubernetes.io/metadata.name': 'patch-me' });

    await apps.createNamespacedDeployment({ namespace: 'demo-a', body: deployment('smp') });
    const smp = await apps.patchNamespacedDeployment(
      { namespace: 'demo-a', name: 'smp', body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    // Containers merge by name: the sidecar stays, the app image changes.
    expect(smp.spec?.template.spec?.containers.map((c) => `${c.name}=${c.image}`)).toEqual(['app=nginx:1.27', 'side=busybox:1.36']);
    expect(smp.metadata?.generation).toBe(2);
    const mergeReplaces = await apps.patchNamespacedDeployment(
      { namespace: 'demo-a', name: 'smp', body: { spec: { template: { spec: { containers: [{ name: 'app', image: 'nginx:1.28' }] } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(mergeReplaces.spec?.template.spec?.containers.map((c) => c.name)).toEqual(['app']);

    const jp = await core.patchNamespace(
      {
        name: 'patch-me',
        body: [
          { op: 'test', path: '/metadata/labels/keep', value: 'yes' },
          { op: 'add', path: '/metadata/labels/istio.io~1rev', value: 'istio-1-16-5' },
          { op: 'remove', path: '/metadata/labels/added' },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(jp.metadata?.labels?.['istio.io/rev']).toBe('istio-1-16-5');
    expect(jp.metadata?.labels?.added).toBeUndefined();
    const failedTest = await apiError(
      core.patchNamespace(
        {
          name: 'patch-me',
          body: [
            { op: 'test', path: '/metadata/labels/keep', value: 'no' },
            { op: 'remove', path: '/metadata/labels/keep' },
          ],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    );
    expect(failedTest.code).toBe(422);
    expect((await core.readNamespace({ name: 'patch-me' })).metadata?.labels?.keep).toBe('yes');

    const applyBody = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied', namespace: 'demo-a' }, data: { x: '1' } };
    const noManager = await apiError(
      core.patchNamespacedConfigMap(
        { namespace: 'demo-a', name: 'applied', body: applyBody },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ),
    );
    // ValidatePatchOptions: 422 on PatchOptions, as kube-apiserver answers (test/lab/apiserver-vs-twin.test.ts).
    expect(noManager.code).toBe(422);
    await core.patchNamespacedConfigMap(
      { namespace: 'demo-a', name: 'applied', body: applyBody, fieldManager: 'meshmove' },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    const reapplied = await core.patchNamespacedConfigMap(
      { namespace: 'demo-a', name: 'applied', body: { ...applyBody, data: { y: '2' } }, fieldManager: 'meshmove' },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    // The manager stopped applying x and nobody else owns it: server-side apply removes it.
    expect(reapplied.data).toEqual({ y: '2' });

    const wrongType = await apiError(
      core.patchNamespace(
        { name: 'patch-me', body: { metadata: { labels: { a: 'b' } } } },
        setHeaderOptions('Content-Type', 'application/json'),
      ),
    );
    expect(wrongType.code).toBe(415);
    expect(wrongType.body).toMatchObject({ kind: 'Status', reason: 'UnsupportedMediaType', code: 415 });
    // Custom resources have no strategic merge patch, as on a real apiserver.
    const smpOnCr = await apiError(
      custom.patchNamespacedCustomObject(
        {
          group: 'networking.istio.io',
          version: 'v1beta1',
          namespace: 'demo-a',
          plural: 'virtualservices',
          name: 'web',
          body: { spec: { hosts: ['x'] } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      ),
    );
    expect(smpOnCr.code).toBe(415);
    const stalePatch = await apiError(
      core.patchNamespace(
        { name: 'patch-me', body: { metadata: { resourceVersion: '1', labels: { a: 'b' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(stalePatch.code).toBe(409);
  });
});

describe('selectors', () => {
  it('filters lists by labelSelector and fieldSelector as apimachinery does', async () => {
    for (const [name, labels] of [
      ['s1', { app: 'a', tier: 'web' }],
      ['s2', { app: 'b' }],
      ['s3', { app: 'c', skip: 'true' }],
    ] as const) {
      await core.createNamespacedConfigMap({ namespace: 'demo-a', body: { metadata: { name, labels } } });
    }
    const names = async (labelSelector?: string, fieldSelector?: string): Promise<string[]> =>
      (await core.listNamespacedConfigMap({ namespace: 'demo-a', labelSelector, fieldSelector })).items
        .map((c) => c.metadata!.name!)
        .filter((n) => /^s\d$/.test(n));
    expect(await names('app in (a,b,c),!skip')).toEqual(['s1', 's2']);
    expect(await names('app!=a')).toEqual(['s2', 's3']);
    expect(await names('tier')).toEqual(['s1']);
    expect(await names(undefined, 'metadata.name==s2')).toEqual(['s2']);
    expect(await names('app', 'metadata.name!=s2,metadata.namespace=demo-a')).toEqual(['s1', 's3']);
    const unsupported = await apiError(core.listNamespacedConfigMap({ namespace: 'demo-a', fieldSelector: 'spec.foo=bar' }));
    // ConfigMaps register no field label conversion: kube-apiserver's default message (test/lab/apiserver-vs-twin.test.ts).
    expect(unsupported.body).toMatchObject({
      code: 400,
      reason: 'BadRequest',
      message: '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"',
    });
    const badSyntax = await apiError(core.listNamespacedConfigMap({ namespace: 'demo-a', labelSelector: 'app in (a' }));
    expect(badSyntax.code).toBe(400);

    await apps.createNamespacedDeployment({ namespace: 'demo-a', body: deployment('fs') });
    const running = await untilServer(
      'a Running fs pod',
      async () => {
        const l = await core.listPodForAllNamespaces({
          fieldSelector: 'status.phase=Running,spec.nodeName=twin-node-1',
          labelSelector: 'app=fs',
        });
        return l.items.length === 1 ? l.items : undefined;
      },
      10_000,
    );
    expect(running[0]!.metadata?.namespace).toBe('demo-a');
    expect((await core.listPodForAllNamespaces({ fieldSelector: 'status.phase=Pending', labelSelector: 'app=fs' })).items).toEqual([]);
  });

  it('pages lists with limit and continue', async () => {
    const first = await core.listNamespace({ limit: 2 });
    expect(first.items).toHaveLength(2);
    expect(first.metadata?._continue).toBeTruthy();
    const rest = await core.listNamespace({ limit: 100, _continue: first.metadata!._continue! });
    const all = await core.listNamespace();
    expect([...first.items, ...rest.items].map((n) => n.metadata?.name)).toEqual(all.items.map((n) => n.metadata?.name));
  });
});

describe('watch', () => {
  it('delivers ADDED, MODIFIED and DELETED from a resourceVersion', async () => {
    const list = await core.listNamespacedConfigMap({ namespace: 'demo-a' });
    const events: string[] = [];
    const watch = new k8s.Watch(kc);
    const req = await watch.watch(
      '/api/v1/namespaces/demo-a/configmaps',
      { resourceVersion: list.metadata!.resourceVersion!, labelSelector: 'w=1' },
      (type, obj: k8s.V1ConfigMap) => {
        events.push(`${type} ${obj.metadata!.name!} ${obj.data?.v ?? ''}`);
      },
      () => undefined,
    );
    await core.createNamespacedConfigMap({ namespace: 'demo-a', body: { metadata: { name: 'w1', labels: { w: '1' } }, data: { v: 'a' } } });
    await core.createNamespacedConfigMap({ namespace: 'demo-a', body: { metadata: { name: 'other' } } });
    await core.patchNamespacedConfigMap(
      { namespace: 'demo-a', name: 'w1', body: { data: { v: 'b' } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.deleteNamespacedConfigMap({ namespace: 'demo-a', name: 'w1' });
    await untilServer('three events', async () => events.length >= 3, 10_000);
    req.abort();
    expect(events).toEqual(['ADDED w1 a', 'MODIFIED w1 b', 'DELETED w1 b']);
  });

  it('keeps a client-node informer in sync and answers 410 Gone for a compacted resourceVersion', async () => {
    await core.createNamespace({ body: { metadata: { name: 'inf' } } });
    const path = '/api/v1/namespaces/inf/configmaps';
    const informer = k8s.makeInformer(kc, path, () => core.listNamespacedConfigMap({ namespace: 'inf' }));
    const seen = new Set<string>();
    informer.on('add', (o: k8s.V1ConfigMap) => seen.add(o.metadata!.name!));
    informer.on('delete', (o: k8s.V1ConfigMap) => seen.delete(o.metadata!.name!));
    await informer.start();
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'i1' } } });
    await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: 'i2' } } });
    await core.deleteNamespacedConfigMap({ namespace: 'inf', name: 'i1' });
    await untilServer('informer state', async () => seen.size === 1 && seen.has('i2'), 10_000);
    await informer.stop();

    const rv = (await core.listNamespacedConfigMap({ namespace: 'inf' })).metadata!.resourceVersion!;
    // The watch cache holds 40 events per resource in this server: push the version out of it.
    for (let i = 0; i < 45; i++) await core.createNamespacedConfigMap({ namespace: 'inf', body: { metadata: { name: `fill-${i}` } } });
    const events: Array<{ type: string; code?: number }> = [];
    let done = false;
    await new k8s.Watch(kc).watch(
      path,
      { resourceVersion: rv },
      (type, obj: { code?: number }) => events.push({ type, code: obj.code }),
      () => {
        done = true;
      },
    );
    await untilServer('the watch to end', async () => done, 10_000);
    expect(events).toEqual([{ type: 'ERROR', code: 410 }]);
  });
});

describe('discovery and kubectl', () => {
  it('serves /version, /api, /apis and resource lists with short names', async () => {
    expect(await (await fetch(`${server.url}/version`)).json()).toMatchObject({ major: '1', gitVersion: expect.stringMatching(/^v1\./) });
    const groups = (await (await fetch(`${server.url}/apis`)).json()) as {
      groups: Array<{ name: string; preferredVersion: { version: string }; versions: Array<{ version: string }> }>;
    };
    const net = groups.groups.find((g) => g.name === 'networking.istio.io')!;
    expect(net.versions.map((v) => v.version)).toEqual(['v1beta1', 'v1alpha3']);
    const coreList = (await (await fetch(`${server.url}/api/v1`)).json()) as {
      resources: Array<{ name: string; shortNames?: string[]; namespaced: boolean }>;
    };
    expect(coreList.resources.find((r) => r.name === 'namespaces')).toMatchObject({ shortNames: ['ns'], namespaced: false });
    expect(coreList.resources.find((r) => r.name === 'pods')).toMatchObject({ shortNames: ['po'], namespaced: true });
    expect(coreList.resources.some((r) => r.name === 'pods/portforward')).toBe(true);
  });

  it('works with the real kubectl binary: get ns,pods -A and get deploy -n', async () => {
    const kubeconfig = join(dir, 'kubeconfig');
    await server.writeKubeconfig(kubeconfig);
    await apps.createNamespacedDeployment({ namespace: 'demo-a', body: deployment('kubectl-web') });
    await untilServer(
      'kubectl-web available',
      async () => (await apps.readNamespacedDeployment({ namespace: 'demo-a', name: 'kubectl-web' })).status?.availableReplicas === 1,
      10_000,
    );
    const env = { ...process.env, HOME: dir, KUBECACHEDIR: join(dir, 'cache') };
    const { stdout } = await run('/usr/bin/kubectl', ['--kubeconfig', kubeconfig, 'get', 'ns,pods', '-A'], { env });
    expect(stdout).toMatch(/namespace\/demo-a\s+Active/);
    expect(stdout).toMatch(/demo-a\s+pod\/kubectl-web-[a-z0-9]+-[a-z0-9]{5}\s+2\/2\s+Running/);
    const deploy = await run('/usr/bin/kubectl', ['--kubeconfig', kubeconfig, 'get', 'deploy', '-n', 'demo-a', 'kubectl-web'], { env });
    expect(deploy.stdout).toMatch(/kubectl-web\s+1\/1\s+1\s+1/);
    const vs = await run(
      '/usr/bin/kubectl',
      ['--kubeconfig', kubeconfig, 'get', 'vs', '-n', 'demo-a', '-o', 'jsonpath={.items[*].spec.hosts[0]}'],
      { env },
    );
    expect(vs.stdout).toBe('web.y7test.com');
  });
});

describe('https', () => {
  it('serves HTTPS with a CA generated at start, trusted through the kubeconfig', async () => {
    const tls = await startApiServer({ tls: true, logger: pino({ level: 'silent' }) });
    try {
      expect(tls.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(tls.kubeconfigYaml()).toContain('certificate-authority-data');
      expect(tls.kubeconfigYaml()).not.toContain('insecure-skip-tls-verify');
      const tkc = new k8s.KubeConfig();
      tkc.loadFromString(tls.kubeconfigYaml('tls-twin'));
      expect(tkc.getCurrentContext()).toBe('tls-twin');
      const names = (await tkc.makeApiClient(k8s.CoreV1Api).listNamespace()).items.map((n) => n.metadata?.name);
      expect(names).toContain('kube-system');
      const kubeconfig = join(dir, 'tls-kubeconfig');
      await tls.writeKubeconfig(kubeconfig);
      const { stdout } = await run('/usr/bin/kubectl', ['--kubeconfig', kubeconfig, 'get', 'ns', 'default', '-o', 'name'], {
        env: { ...process.env, HOME: dir },
      });
      expect(stdout.trim()).toBe('namespace/default');
    } finally {
      await tls.close();
    }
  });
});

describe('faults and counters', () => {
  const putFaults = async (body: unknown): Promise<void> => {
    const r = await fetch(`${server.url}/_twin/faults`, {
      method: 'PUT',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(r.status).toBe(200);
  };

  it('injects 429 with Retry-After, 500 and dropped connections, counted apart', async () => {
    await fetch(`${server.url}/_twin/requests`, { method: 'DELETE' });
    await putFaults({
      rules: [
        { verb: 'list', resource: 'configmaps', namespace: 'demo-a', kind: 'status', status: 429, retryAfterSeconds: 7, count: 1 },
        { verb: 'get', resource: 'configmaps', kind: 'status', status: 500, count: 1 },
        { verb: 'delete', resource: 'configmaps', kind: 'drop', count: 1 },
      ],
    });
    const throttled = await apiError(core.listNamespacedConfigMap({ namespace: 'demo-a' }));
    expect(throttled.code).toBe(429);
    expect(throttled.headers['retry-after']).toBe('7');
    expect(throttled.body).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: 7 } });
    await core.listNamespacedConfigMap({ namespace: 'demo-a' });
    const internal = await apiError(core.readNamespacedConfigMap({ namespace: 'demo-a', name: 's1' }));
    expect(internal.body).toMatchObject({ reason: 'InternalError', code: 500 });
    await expect(core.deleteNamespacedConfigMap({ namespace: 'demo-a', name: 's1' })).rejects.toThrow();
    await core.deleteNamespacedConfigMap({ namespace: 'demo-a', name: 's1' });
    const faults = (await (await fetch(`${server.url}/_twin/faults`)).json()) as { rules: Array<{ count: number }> };
    expect(faults.rules.map((r) => r.count)).toEqual([0, 0, 0]);
    const snap = server.counters.snapshot();
    expect(snap.faulted).toEqual({ 'list configmaps': 1, 'get configmaps': 1, 'delete configmaps': 1 });
    expect(snap.byVerbResource['list configmaps']).toBe(1);
    expect(snap.byObject['delete configmaps/demo-a/s1']).toBe(1);
    await putFaults({});
  });

  it('draws rate-based faults from a seeded PRNG, reproducibly', async () => {
    const draw = async (): Promise<string> => {
      server.faults.set({ rules: [{ verb: 'get', resource: 'namespaces', kind: 'status', status: 503, rate: 0.5, seed: 42 }] });
      let out = '';
      for (let i = 0; i < 16; i++) out += (await fetch(`${server.url}/api/v1/namespaces/demo-a`)).status === 503 ? 'x' : '.';
      return out;
    };
    const first = await draw();
    expect(first).toMatch(/x/);
    expect(first).toMatch(/\./);
    expect(await draw()).toBe(first);
    server.faults.clear();
  });

  it('counts requests per verb/resource and per object, readable and resettable over HTTP', async () => {
    expect((await fetch(`${server.url}/_twin/requests`, { method: 'DELETE' })).status).toBe(200);
    await core.patchNamespace(
      { name: 'demo-a', body: { metadata: { labels: { x: 'y' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.patchNamespace(
      { name: 'demo-a', body: { metadata: { labels: { x: 'y' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await apps.patchNamespacedDeployment(
      { namespace: 'demo-a', name: 'smp', body: { metadata: { labels: { a: 'b' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await core.listPodForAllNamespaces();
    const snap = (await (await fetch(`${server.url}/_twin/requests`)).json()) as {
      byVerbResource: Record<string, number>;
      byObject: Record<string, number>;
      total: number;
    };
    expect(snap.byVerbResource).toEqual({ 'patch namespaces': 2, 'patch apps/deployments': 1, 'list pods': 1 });
    expect(snap.byObject).toEqual({ 'patch namespaces/demo-a': 2, 'patch apps/deployments/demo-a/smp': 1 });
    expect(snap.total).toBe(4);
  });
});
