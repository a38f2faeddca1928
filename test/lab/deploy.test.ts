// deploy/ on the lab's real kube-apiserver: `kubectl apply -k deploy` with server-side dry-run (the
// API server validates and admits every object, and creates none), then for real; the objects read
// back; the RBAC the kustomization grants is exactly deploy/rbac.yaml's, and the API server's own
// authorizer (SubjectAccessReview) allows and refuses what that file means; the Deployment's
// probes, port, environment (Temporal's own variable names, read from @temporalio/envconfig),
// shutdown grace and security context; the Temporal credential components render and are accepted.
// Last, a token for the deployed ServiceAccount (TokenRequest) runs `meshmove preflight` on the
// field-report plan against the real control planes: what the RBAC grants is enough for it.
//
// Not proven here: the image (no container engine on this machine; kwok runs no containers, so
// the probes are never called and the pod's Ready is kwok's, not the worker's).
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  applyNamespaces,
  FIELD_REPORT_GATEWAYS,
  FIELD_REPORT_NAMESPACES,
  fieldReportIstioConfig,
  startLab,
  type Lab,
} from '../../lab/index.js';
import { kubeconfigYaml } from '../../lab/kube.js';
import { LAB_CONTEXT, LAB_SOURCE_REVISION, LAB_TARGET_REVISION, waitInjected } from '../../lab/field-report.js';
import { meshmove } from '../support/cli.js';
import { startDevServer } from '../support/temporal.js';
import { freePort } from '../../lab/ports.js';
import { RBAC_FILE, writePlan } from '../e2e/support/stack.js';

const MAIN = fileURLToPath(new URL('../../client/main.ts', import.meta.url));
const DEPLOY = fileURLToPath(new URL('../../deploy', import.meta.url));
const ENVCONFIG = fileURLToPath(new URL('../../node_modules/@temporalio/envconfig/lib/envconfig-toml.js', import.meta.url));
const NS = 'meshmove';
const SA = 'meshmove-worker';
const SA_USER = `system:serviceaccount:${NS}:${SA}`;
const RBAC_KINDS = ['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'];

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

interface Container {
  name: string;
  args?: string[];
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string; optional?: boolean } }[];
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}

interface DeploymentObj extends Obj {
  spec: {
    template: {
      spec: {
        serviceAccountName: string;
        terminationGracePeriodSeconds: number;
        securityContext: Record<string, unknown>;
        containers: Container[];
        volumes: { name: string; secret?: { secretName: string; defaultMode?: number }; persistentVolumeClaim?: { claimName: string } }[];
      };
    };
  };
}

const docs = (text: string): Obj[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Obj | null)
    .filter((d): d is Obj => d !== null);
const key = (o: Obj) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
/** What an RBAC object grants or names: its rules, roleRef and subjects (labels and other metadata grant nothing). */
const grant = (o: Obj) => ({
  kind: o.kind,
  name: o.metadata.name,
  namespace: o.metadata.namespace,
  rules: o.rules,
  roleRef: o.roleRef,
  subjects: o.subjects,
});

let lab: Lab;
let rendered: Obj[];
const kubectl = (args: string[], input?: string) => lab.kube.kubectl(args, input);
const getJson = async <T>(args: string[]): Promise<T> => JSON.parse(await kubectl([...args, '-o', 'json'])) as T;

/** A kustomization that uses deploy/ and its three components, as an operator's own would, from beside it. */
async function withComponents(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshmove-deploy-'));
  const base = path.relative(dir, DEPLOY);
  await writeFile(
    path.join(dir, 'kustomization.yaml'),
    stringify({
      resources: [base],
      components: ['temporal-mtls', 'temporal-api-key', 'backup-volume'].map((c) => `${base}/components/${c}`),
    }),
  );
  return dir;
}

/** A kubeconfig for the deployed ServiceAccount, with a token from the TokenRequest API (what the kubelet mounts in its pod). */
async function workerKubeconfig(dir: string): Promise<string> {
  const token = (await kubectl(['create', 'token', SA, '-n', NS, '--duration=1h'])).trim();
  const file = path.join(dir, 'worker.kubeconfig');
  await writeFile(file, kubeconfigYaml(lab.kube.server, lab.kube.caPem, SA_USER, token, LAB_CONTEXT), { mode: 0o600 });
  return file;
}

function get(url: string): Promise<{ status: number; body: string }> {
  return fetch(url).then(async (r) => ({ status: r.status, body: await r.text() }));
}

/** The SubjectAccessReview verdict of the lab's authorizer for the worker's ServiceAccount. */
async function allowed(attrs: {
  verb: string;
  resource: string;
  group?: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}): Promise<boolean> {
  const review = await kubectl(
    ['create', '-f', '-', '-o', 'json'],
    JSON.stringify({
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: SA_USER,
        groups: ['system:serviceaccounts', `system:serviceaccounts:${NS}`, 'system:authenticated'],
        resourceAttributes: { group: attrs.group ?? '', ...attrs },
      },
    }),
  );
  return (JSON.parse(review) as { status: { allowed: boolean } }).status.allowed;
}

beforeAll(async () => {
  // The field report's cluster without the worker's RBAC: deploy/ brings it.
  lab = await startLab({ sharedRoot: true, gateways: FIELD_REPORT_GATEWAYS, progress: (l) => process.stderr.write(`${l}\n`) });
  await kubectl(['label', 'namespace', LAB_TARGET_REVISION, `usergroup=${LAB_TARGET_REVISION}`, '--overwrite']);
  await applyNamespaces(lab.kube, FIELD_REPORT_NAMESPACES);
  await kubectl(
    ['apply', '-f', '-'],
    fieldReportIstioConfig(lab.gateways)
      .map((d) => `---\n${stringify(d)}`)
      .join('\n'),
  );
  rendered = docs(await kubectl(['kustomize', DEPLOY]));
}, 600_000);

afterAll(async () => {
  await lab?.stop();
});

describe('deploy/ on a real kube-apiserver', () => {
  it('server-side dry-run accepts every object and creates none (once the namespaces exist); the real apply creates them and they read back', async () => {
    const names = rendered.map(key);
    console.log(`[deploy] kubectl kustomize deploy: ${names.join(', ')}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'Namespace//meshmove',
        'ServiceAccount/meshmove/meshmove-worker',
        'ConfigMap/meshmove/meshmove-temporal',
        'Deployment/meshmove/meshmove-worker',
        'Service/meshmove/meshmove-worker',
      ]),
    );
    const namespaces = rendered.filter((o) => o.kind === 'Namespace');

    // A dry-run writes nothing, namespaces included: on a cluster without them it refuses the
    // objects inside them, and only for that reason.
    const refused = await kubectl(['apply', '-k', DEPLOY, '--server-side', '--dry-run=server']).then(
      () => '',
      (err: Error) => err.message,
    );
    const reasons = refused
      .split('\n')
      .slice(1)
      .filter((l) => l.trim());
    expect(reasons.length).toBeGreaterThan(0);
    for (const r of reasons) expect(r).toMatch(/^Error from server \(NotFound\): namespaces "[a-z0-9-]+" not found$/);

    // 1. The namespaces (the kustomization labels every one of them, its own and rbac.yaml's).
    const first = await kubectl(['apply', '-k', DEPLOY, '--server-side', '-l', 'meshmove.dev/apply-first=true']);
    expect(first.trim().split('\n').sort()).toEqual(namespaces.map((n) => `namespace/${n.metadata.name} serverside-applied`).sort());
    // 2. Everything, validated and admitted, nothing written.
    const dry = await kubectl(['apply', '-k', DEPLOY, '--server-side', '--dry-run=server']);
    console.log(`[deploy] server-side dry-run:\n${dry}`);
    expect(dry.trim().split('\n')).toHaveLength(rendered.length);
    await expect(kubectl(['get', 'deployment', SA, '-n', NS])).rejects.toThrow(/NotFound/);
    await expect(kubectl(['get', 'clusterrole', SA])).rejects.toThrow(/NotFound/);
    // 3. For real.
    const applied = await kubectl(['apply', '-k', DEPLOY, '--server-side']);
    console.log(`[deploy] apply:\n${applied}`);
    for (const o of rendered) {
      const back = await getJson<Obj>(['get', o.kind, o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : [])]);
      expect(key(back)).toBe(key(o));
    }
    // The namespace enforces the restricted Pod Security Standard, and the worker's pod passes it:
    // the ReplicaSet controller's pod is admitted by the real PodSecurity admission ...
    const pod = await vi.waitFor(
      async () => {
        const { items } = await getJson<{ items: Obj[] }>(['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/name=meshmove-worker']);
        expect(items[0], 'the Deployment has a pod').toBeDefined();
        return items[0]!;
      },
      { timeout: 60_000, interval: 500 },
    );
    expect(pod.metadata.name).toMatch(/^meshmove-worker-/);
    // ... which refuses a pod without that security context.
    const plain = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'plain', namespace: NS },
      spec: { containers: [{ name: 'c', image: 'meshmove' }] },
    };
    await expect(kubectl(['create', '--dry-run=server', '-f', '-'], JSON.stringify(plain))).rejects.toThrow(
      /violates PodSecurity "restricted/,
    );
  });

  it('the RBAC it grants is exactly deploy/rbac.yaml, and the API server allows and refuses accordingly', async () => {
    const file = docs(await readFile(RBAC_FILE, 'utf8'));
    const rbacOf = (objs: Obj[]) =>
      objs
        .filter((o) => RBAC_KINDS.includes(o.kind))
        .sort((a, b) => key(a).localeCompare(key(b)))
        .map(grant);
    expect(rbacOf(rendered)).toEqual(rbacOf(file));
    // As stored by the API server.
    for (const o of file.filter((x) => x.kind !== 'ServiceAccount')) {
      const back = await getJson<Obj>(['get', o.kind, o.metadata.name, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : [])]);
      expect(grant(back)).toEqual(grant(o));
    }
    // No other binding in the cluster names the worker.
    const bindings = [
      ...(await getJson<{ items: Obj[] }>(['get', 'clusterrolebindings'])).items,
      ...(await getJson<{ items: Obj[] }>(['get', 'rolebindings', '-A'])).items,
    ].filter((b) =>
      (b.subjects as { kind: string; name: string; namespace?: string }[] | undefined)?.some(
        (s) => s.kind === 'ServiceAccount' && s.name === SA && s.namespace === NS,
      ),
    );
    expect(bindings.map(key).sort()).toEqual(
      file
        .filter((o) => o.kind.endsWith('Binding'))
        .map(key)
        .sort(),
    );

    // The resourceNames in rbac.yaml name objects that exist in the lab (the field report's names).
    await kubectl(['get', 'mutatingwebhookconfiguration', 'istio-sidecar-injector']);
    await kubectl(['get', 'validatingwebhookconfiguration', 'istiod-default-validator']);
    await kubectl(['get', 'deployment', 'istiod', '-n', 'istio-system']);

    const cases: [boolean, Parameters<typeof allowed>[0]][] = [
      [true, { verb: 'list', resource: 'namespaces' }],
      [true, { verb: 'patch', resource: 'namespaces', name: 'inventory' }],
      [true, { verb: 'watch', resource: 'configmaps', namespace: 'inventory' }],
      [true, { verb: 'patch', group: 'apps', resource: 'deployments', namespace: 'inventory' }],
      [true, { verb: 'create', group: 'batch', resource: 'jobs', namespace: 'payments' }],
      [true, { verb: 'create', resource: 'pods', subresource: 'portforward', namespace: 'istio-system' }],
      [true, { verb: 'get', resource: 'pods', subresource: 'portforward', namespace: LAB_TARGET_REVISION }],
      [
        true,
        {
          verb: 'delete',
          group: 'admissionregistration.k8s.io',
          resource: 'mutatingwebhookconfigurations',
          name: 'istio-sidecar-injector',
        },
      ],
      [
        true,
        {
          verb: 'patch',
          group: 'admissionregistration.k8s.io',
          resource: 'validatingwebhookconfigurations',
          name: 'istiod-default-validator',
        },
      ],
      [true, { verb: 'delete', group: 'apps', resource: 'deployments', name: 'istiod', namespace: 'istio-system' }],
      [true, { verb: 'list', group: 'networking.istio.io', resource: 'virtualservices' }],
      [false, { verb: 'get', resource: 'secrets', namespace: NS }],
      [false, { verb: 'list', resource: 'secrets', namespace: 'istio-system' }],
      [false, { verb: 'delete', resource: 'namespaces', name: 'inventory' }],
      [false, { verb: 'create', resource: 'pods', subresource: 'portforward', namespace: 'inventory' }],
      [
        false,
        {
          verb: 'delete',
          group: 'admissionregistration.k8s.io',
          resource: 'mutatingwebhookconfigurations',
          name: 'istio-sidecar-injector-istio-1-16-5',
        },
      ],
      [
        false,
        {
          verb: 'patch',
          group: 'admissionregistration.k8s.io',
          resource: 'validatingwebhookconfigurations',
          name: 'istio-validator-istio-1-16-5-istio-1-16-5',
        },
      ],
      [false, { verb: 'delete', group: 'apps', resource: 'deployments', name: 'istiod-istio-1-16-5', namespace: LAB_TARGET_REVISION }],
      [false, { verb: 'delete', group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions' }],
      [false, { verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: NS }],
      [false, { verb: 'delete', group: 'networking.istio.io', resource: 'virtualservices', namespace: 'inventory' }],
    ];
    const verdicts = await Promise.all(cases.map(async ([, attrs]) => allowed(attrs)));
    const table = cases.map(
      ([want, a], i) =>
        `${verdicts[i] === want ? 'ok ' : 'BAD'} ${verdicts[i] ? 'allowed' : 'denied '} ${a.verb} ${a.group ? `${a.group}/` : ''}${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.name ? ` ${a.name}` : ''}${a.namespace ? ` -n ${a.namespace}` : ''}`,
    );
    console.log(`[deploy] SubjectAccessReview as ${SA_USER}:\n${table.join('\n')}`);
    expect(verdicts).toEqual(cases.map(([want]) => want));
  });

  it("the Deployment: probes on the ops port, Temporal's own variable names, a grace above the drain, the restricted security context", async () => {
    const dep = await getJson<DeploymentObj>(['get', 'deployment', SA, '-n', NS]);
    const pod = dep.spec.template.spec;
    const c = pod.containers[0]!;
    expect(pod.serviceAccountName).toBe(SA);
    expect(c.args).toEqual(['worker']);
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    const ops = c.ports!.find((p) => p.name === 'ops')!;
    expect(env.MESHMOVE_HTTP_ADDRESS).toBe(`0.0.0.0:${ops.containerPort}`);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'ops', scheme: 'HTTP' });
    expect(c.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'ops', scheme: 'HTTP' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'ops', scheme: 'HTTP' });
    const svc = await getJson<{ spec: { ports: { port: number; targetPort: string }[] } }>(['get', 'service', SA, '-n', NS]);
    expect(svc.spec.ports).toEqual([expect.objectContaining({ port: ops.containerPort, targetPort: 'ops' })]);

    // The drain (MESHMOVE_SHUTDOWN_GRACE) ends before the kubelet's SIGKILL.
    const grace = /^(\d+)s$/.exec(env.MESHMOVE_SHUTDOWN_GRACE ?? '');
    expect(grace, `MESHMOVE_SHUTDOWN_GRACE=${env.MESHMOVE_SHUTDOWN_GRACE}`).not.toBeNull();
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(Number(grace![1]));

    // Every TEMPORAL_* variable the manifests set is one @temporalio/envconfig reads.
    const known = new Set([...(await readFile(ENVCONFIG, 'utf8')).matchAll(/envProvider\['(TEMPORAL_[A-Z_]+)'\]/g)].map((m) => m[1]!));
    expect(known).toContain('TEMPORAL_ADDRESS');
    const withCreds = docs(await kubectl(['kustomize', await withComponents()]));
    const config = (objs: Obj[]) =>
      objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'meshmove-temporal') as Obj & { data: Record<string, string> };
    const credsDep = withCreds.find((o) => o.kind === 'Deployment') as DeploymentObj;
    const credsContainer = credsDep.spec.template.spec.containers[0]!;
    const temporalVars = [
      ...Object.keys(config(rendered).data),
      ...Object.keys(config(withCreds).data),
      ...(credsContainer.env ?? []).map((e) => e.name),
    ].filter((n) => n.startsWith('TEMPORAL_'));
    expect(temporalVars.filter((n) => !known.has(n))).toEqual([]);
    expect(Object.keys(config(rendered).data).sort()).toEqual(['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE']);
    expect(c.envFrom).toEqual([
      { configMapRef: { name: 'meshmove-temporal' } },
      { secretRef: { name: 'meshmove-worker-env', optional: true } },
    ]);
    // The credentials: the API key from a Secret, the TLS files from a Secret's volume at the paths named.
    expect(credsContainer.env).toContainEqual({
      name: 'TEMPORAL_API_KEY',
      valueFrom: { secretKeyRef: { name: 'meshmove-temporal-api-key', key: 'api-key' } },
    });
    const tlsVolume = credsDep.spec.template.spec.volumes.find((v) => v.secret?.secretName === 'meshmove-temporal-tls')!;
    const tlsMount = credsContainer.volumeMounts!.find((m) => m.name === tlsVolume.name)!;
    expect(tlsMount.readOnly).toBe(true);
    expect(tlsVolume.secret).toEqual({ secretName: 'meshmove-temporal-tls', defaultMode: 0o440 });
    for (const v of ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_PATH']) {
      expect(path.dirname(config(withCreds).data[v]!)).toBe(tlsMount.mountPath);
    }
    // The backup volume: a claim mounted as the data directory, Recreate for its single writer.
    expect(credsDep.spec.template.spec.volumes).toContainEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: 'meshmove-worker-data' },
    });
    expect(withCreds.map(key)).toContain('PersistentVolumeClaim/meshmove/meshmove-worker-data');
    // ... and the API server accepts that variant too.
    await kubectl(['apply', '-k', await withComponents(), '--server-side', '--dry-run=server']);

    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    // A read-only root: the only writable paths are the volumes (/tmp and the data directory).
    expect(
      c
        .volumeMounts!.filter((m) => !m.readOnly)
        .map((m) => m.mountPath)
        .sort(),
    ).toEqual(['/tmp', '/var/lib/meshmove']);
    expect(c.resources).toEqual({ requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } });
  });

  it("the deployed ServiceAccount's token (TokenRequest) is enough for `meshmove preflight` on the field-report plan", async () => {
    await waitInjected(lab, LAB_SOURCE_REVISION);
    const dir = await mkdtemp(path.join(tmpdir(), 'meshmove-deploy-preflight-'));
    const kubeconfig = await workerKubeconfig(dir);
    expect((await kubectl(['--kubeconfig', kubeconfig, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}'])).trim()).toBe(
      SA_USER,
    );
    // Preflight reads no DNS: the plan's provider is never called.
    const plan = await writePlan({ context: LAB_CONTEXT, dnsWebhookUrl: 'http://127.0.0.1:9/dns', dnsResolver: '127.0.0.1:53' }, dir);
    const r = await meshmove(['preflight', plan, '--kubeconfig', kubeconfig, '--json'], {}, 120_000);
    const report = JSON.parse(r.stdout) as { blocking: number; findings: { check: string; status: string; reason: string }[] };
    console.log(`[deploy] preflight as ${SA_USER}:\n${report.findings.map((f) => `  ${f.status} ${f.check}: ${f.reason}`).join('\n')}`);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(report.blocking).toBe(0);
    expect(JSON.stringify(report)).not.toMatch(/forbidden/i);
    // Its pitfall guards read the source's objects decommission would delete.
    expect(report.findings.some((f) => f.check.startsWith('pitfall'))).toBe(true);
  }, 300_000);

  it("`meshmove worker` with the Deployment's environment, as the deployed ServiceAccount: /healthz, /readyz (Temporal and the API server answer) and /metrics on the ops port; SIGTERM drains and exits 0", async () => {
    const env = await startDevServer();
    const dir = await mkdtemp(path.join(tmpdir(), 'meshmove-deploy-worker-'));
    const kubeconfig = await workerKubeconfig(dir);
    const dep = rendered.find((o) => o.kind === 'Deployment') as DeploymentObj;
    const c = dep.spec.template.spec.containers[0]!;
    const config = (
      rendered.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'meshmove-temporal') as Obj & { data: Record<string, string> }
    ).data;
    const port = await freePort();
    // The container's environment, but: this machine's Temporal dev server, a loopback port free
    // here, and the ServiceAccount's token in a kubeconfig instead of the in-cluster files.
    const containerEnv = Object.fromEntries((c.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
    const worker = spawn(process.execPath, ['--import', 'tsx', MAIN, ...(c.args ?? [])], {
      env: {
        ...process.env,
        ...config,
        ...containerEnv,
        TEMPORAL_ADDRESS: env.address,
        MESHMOVE_HTTP_ADDRESS: `127.0.0.1:${port}`,
        KUBECONFIG: kubeconfig,
        MESHMOVE_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    worker.stdout.on('data', (d: Buffer) => (output += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
    try {
      const base = `http://127.0.0.1:${port}`;
      const ready = await vi.waitFor(
        async () => {
          if (worker.exitCode !== null) throw new Error(`the worker exited ${worker.exitCode}: ${output}`);
          const r = await get(`${base}${c.readinessProbe!.httpGet!.path}`).catch(() => undefined);
          expect(r?.status, 'the worker is ready').toBe(200);
          return r!;
        },
        { timeout: 120_000, interval: 500 },
      );
      console.log(`[deploy] GET /readyz: ${ready.status} ${ready.body}`);
      expect(ready.body).toContain(lab.kube.server);
      expect((await get(`${base}${c.livenessProbe!.httpGet!.path}`)).status).toBe(200);
      const metrics = await get(`${base}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/^# (HELP|TYPE) /m);
      worker.kill('SIGTERM');
      expect(await exited, output).toBe(0);
    } finally {
      if (worker.exitCode === null) worker.kill('SIGKILL');
      await env.teardown();
    }
  }, 300_000);
});
