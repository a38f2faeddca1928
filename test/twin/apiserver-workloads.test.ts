// The twin's generic controllers through the real client: Deployment rollouts (and the stuck-rollout
// fault), StatefulSet, DaemonSet and Job, judged the way `kubectl rollout status` judges them.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { untilServer } from './poll-apiserver.js';
import { startApiServer, type ApiServer } from '../../twin/apiserver/index.js';

const run = promisify(execFile);
const { setHeaderOptions, PatchStrategy } = k8s;

/** kubectl's DeploymentStatusViewer: done when the new ReplicaSet owns every available replica. */
function deploymentRolledOut(d: k8s.V1Deployment): boolean {
  const s = d.status ?? {};
  const want = d.spec?.replicas ?? 1;
  return (
    (s.observedGeneration ?? 0) >= (d.metadata?.generation ?? 0) &&
    (s.updatedReplicas ?? 0) === want &&
    (s.replicas ?? 0) === want &&
    (s.availableReplicas ?? 0) === want &&
    (s.readyReplicas ?? 0) === want
  );
}

let server: ApiServer;
let kc: k8s.KubeConfig;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let batch: k8s.BatchV1Api;
let dir: string;
let kubeconfig: string;
const NS = 'work';

beforeAll(async () => {
  server = await startApiServer({ podStartDelayMs: 10, rolloutPodDelayMs: 30, logger: pino({ level: 'silent' }) });
  kc = new k8s.KubeConfig();
  kc.loadFromString(server.kubeconfigYaml());
  core = kc.makeApiClient(k8s.CoreV1Api);
  apps = kc.makeApiClient(k8s.AppsV1Api);
  batch = kc.makeApiClient(k8s.BatchV1Api);
  dir = await mkdtemp(join(tmpdir(), 'twin-workloads-'));
  kubeconfig = join(dir, 'kubeconfig');
  await server.writeKubeconfig(kubeconfig);
  await core.createNamespace({ body: { metadata: { name: NS } } });
});

afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const template = (app: string): k8s.V1PodTemplateSpec => ({
  metadata: { labels: { app } },
  spec: { containers: [{ name: 'app', image: 'nginx:1.25', ports: [{ containerPort: 8080, name: 'http' }] }] },
});
const restart = (name: string): Promise<k8s.V1Deployment> =>
  apps.patchNamespacedDeployment(
    {
      namespace: NS,
      name,
      body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': new Date().toISOString() } } } } },
    },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
const podsOf = async (app: string): Promise<k8s.V1Pod[]> =>
  (await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${app}` })).items;
const kubectl = (...args: string[]): Promise<{ stdout: string }> =>
  run('/usr/bin/kubectl', ['--kubeconfig', kubeconfig, ...args], { env: { ...process.env, HOME: dir } });

describe('Deployment', () => {
  it('a rollout restart replaces every pod within maxSurge and ends fully rolled out', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: { metadata: { name: 'web' }, spec: { replicas: 3, selector: { matchLabels: { app: 'web' } }, template: template('web') } },
    });
    const before = await untilServer(
      '3 ready pods',
      async () => {
        const d = await apps.readNamespacedDeployment({ namespace: NS, name: 'web' });
        return deploymentRolledOut(d) && d;
      },
      15_000,
    );
    expect(before.status?.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual([
      'Available=True/MinimumReplicasAvailable',
      'Progressing=True/NewReplicaSetAvailable',
    ]);
    const oldPods = (await podsOf('web')).map((p) => p.metadata!.name!);
    expect(oldPods).toHaveLength(3);

    // Watch the pods during the rollout: never more than replicas + maxSurge (25% of 3 → 1).
    let live = 3;
    let maxLive = 3;
    const w = await new k8s.Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: 'app=web', resourceVersion: (await core.listNamespacedPod({ namespace: NS })).metadata!.resourceVersion! },
      (type) => {
        if (type === 'ADDED') maxLive = Math.max(maxLive, ++live);
        if (type === 'DELETED') live--;
      },
      () => undefined,
    );
    const patched = await restart('web');
    expect(patched.metadata?.generation).toBe(2);
    const after = await untilServer(
      'rollout complete',
      async () => {
        const d = await apps.readNamespacedDeployment({ namespace: NS, name: 'web' });
        const pods = await podsOf('web');
        return deploymentRolledOut(d) && pods.length === 3 && pods.every((p) => !oldPods.includes(p.metadata!.name!)) && d;
      },
      15_000,
    );
    w.abort();
    expect(after.status).toMatchObject({ observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 });
    expect(after.status?.unavailableReplicas).toBeUndefined();
    expect(maxLive).toBe(4);
    const rs = (await apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'app=web' })).items;
    expect(rs.map((r) => [r.metadata?.annotations?.['deployment.kubernetes.io/revision'], r.spec?.replicas]).sort()).toEqual([
      ['1', 0],
      ['2', 3],
    ]);
    const hash = rs.find((r) => r.spec?.replicas === 3)!.metadata!.labels!['pod-template-hash'];
    expect(
      (await podsOf('web')).every(
        (p) => p.metadata?.labels?.['pod-template-hash'] === hash && p.metadata?.ownerReferences?.[0]?.kind === 'ReplicaSet',
      ),
    ).toBe(true);
    const { stdout } = await kubectl('rollout', 'status', 'deployment/web', '-n', NS, '--timeout=10s');
    expect(stdout).toContain('successfully rolled out');
  });

  it('a stuck-rollout fault keeps the rollout incomplete until it is cleared', async () => {
    await apps.createNamespacedDeployment({
      namespace: NS,
      body: {
        metadata: { name: 'stuck' },
        spec: { replicas: 2, selector: { matchLabels: { app: 'stuck' } }, template: template('stuck') },
      },
    });
    await untilServer(
      'stuck ready',
      async () => deploymentRolledOut(await apps.readNamespacedDeployment({ namespace: NS, name: 'stuck' })),
      15_000,
    );
    const oldPods = (await podsOf('stuck')).map((p) => p.metadata!.name!);
    server.faults.setStuckRollouts([{ namespace: NS, name: 'stuck' }]);
    await restart('stuck');
    const crashing = await untilServer(
      'a crash-looping new pod',
      async () => (await podsOf('stuck')).find((p) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff'),
      15_000,
    );
    expect(crashing.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    await new Promise((r) => setTimeout(r, 400));
    const d = await apps.readNamespacedDeployment({ namespace: NS, name: 'stuck' });
    expect(deploymentRolledOut(d)).toBe(false);
    expect(d.status).toMatchObject({ observedGeneration: 2, updatedReplicas: 1, availableReplicas: 2, unavailableReplicas: 1 });
    // maxUnavailable 25% of 2 rounds down to 0: both old pods stay.
    expect((await podsOf('stuck')).filter((p) => oldPods.includes(p.metadata!.name!))).toHaveLength(2);
    await expect(kubectl('rollout', 'status', 'deployment/stuck', '-n', NS, '--timeout=1s')).rejects.toThrow(/timed out|exceeded/);

    server.faults.setStuckRollouts([]);
    await untilServer(
      'rollout complete after the fault is cleared',
      async () => deploymentRolledOut(await apps.readNamespacedDeployment({ namespace: NS, name: 'stuck' })),
      15_000,
    );
    expect((await podsOf('stuck')).some((p) => oldPods.includes(p.metadata!.name!))).toBe(false);
  });

  it('deleting a Deployment garbage-collects its ReplicaSets and pods', async () => {
    await apps.deleteNamespacedDeployment({ namespace: NS, name: 'stuck' });
    await untilServer('no stuck pods', async () => (await podsOf('stuck')).length === 0, 15_000);
    expect((await apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: 'app=stuck' })).items).toEqual([]);
  });
});

describe('StatefulSet, DaemonSet, Job', () => {
  it('a StatefulSet rolls pods from the highest ordinal and ends with currentRevision == updateRevision', async () => {
    await apps.createNamespacedStatefulSet({
      namespace: NS,
      body: {
        metadata: { name: 'db' },
        spec: { replicas: 2, serviceName: 'db', selector: { matchLabels: { app: 'db' } }, template: template('db') },
      },
    });
    const first = await untilServer(
      'db ready',
      async () => {
        const s = await apps.readNamespacedStatefulSet({ namespace: NS, name: 'db' });
        return s.status?.readyReplicas === 2 && s.status.currentRevision === s.status.updateRevision && s;
      },
      15_000,
    );
    expect((await podsOf('db')).map((p) => p.metadata?.name).sort()).toEqual(['db-0', 'db-1']);
    await apps.patchNamespacedStatefulSet(
      {
        namespace: NS,
        name: 'db',
        body: { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': 'now' } } } } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    const rolled = await untilServer(
      'db rolled',
      async () => {
        const s = await apps.readNamespacedStatefulSet({ namespace: NS, name: 'db' });
        return (
          s.status?.updateRevision !== first.status?.updateRevision &&
          s.status?.currentRevision === s.status?.updateRevision &&
          s.status?.readyReplicas === 2 &&
          s
        );
      },
      15_000,
    );
    expect(rolled.status).toMatchObject({ observedGeneration: 2, replicas: 2, updatedReplicas: 2, currentReplicas: 2 });
    expect((await podsOf('db')).every((p) => p.metadata?.labels?.['controller-revision-hash'] === rolled.status?.updateRevision)).toBe(
      true,
    );
    expect((await kubectl('rollout', 'status', 'statefulset/db', '-n', NS, '--timeout=10s')).stdout).toMatch(
      /(partitioned roll out complete: 2 new pods have been updated|rolling update complete)/,
    );
  });

  it('a DaemonSet runs one pod on the node and replaces it on a template change', async () => {
    await apps.createNamespacedDaemonSet({
      namespace: NS,
      body: { metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'agent' } }, template: template('agent') } },
    });
    await untilServer(
      'agent ready',
      async () => (await apps.readNamespacedDaemonSet({ namespace: NS, name: 'agent' })).status?.numberReady === 1,
      15_000,
    );
    const [oldPod] = await podsOf('agent');
    expect(oldPod?.spec?.nodeName).toBe('twin-node-1');
    await apps.patchNamespacedDaemonSet(
      { namespace: NS, name: 'agent', body: { spec: { template: { metadata: { annotations: { x: '1' } } } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const ds = await untilServer(
      'agent updated',
      async () => {
        const d = await apps.readNamespacedDaemonSet({ namespace: NS, name: 'agent' });
        const pods = await podsOf('agent');
        return (
          d.status?.observedGeneration === 2 &&
          d.status.updatedNumberScheduled === 1 &&
          d.status.numberAvailable === 1 &&
          pods.length === 1 &&
          pods[0]!.metadata!.name !== oldPod!.metadata!.name &&
          d
        );
      },
      15_000,
    );
    expect(ds.status).toMatchObject({ desiredNumberScheduled: 1, currentNumberScheduled: 1, numberReady: 1 });
    expect((await kubectl('rollout', 'status', 'daemonset/agent', '-n', NS, '--timeout=10s')).stdout).toContain('successfully rolled out');
  });

  it('a Job completes when its pod is marked Succeeded through pods/status, and fails past backoffLimit', async () => {
    const jobSpec = (name: string): k8s.V1Job => ({
      metadata: { name },
      spec: {
        backoffLimit: 0,
        template: { spec: { restartPolicy: 'Never', containers: [{ name: 'probe', image: 'curlimages/curl:8.8.0' }] } },
      },
    });
    await batch.createNamespacedJob({ namespace: NS, body: jobSpec('probe-ok') });
    await batch.createNamespacedJob({ namespace: NS, body: jobSpec('probe-bad') });
    const finish = async (job: string, phase: 'Succeeded' | 'Failed', exitCode: number): Promise<void> => {
      const pod = await untilServer(
        `${job} pod running`,
        async () =>
          (await core.listNamespacedPod({ namespace: NS, labelSelector: `job-name=${job}` })).items.find(
            (p) => p.status?.phase === 'Running',
          ),
        15_000,
      );
      expect(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      const status = {
        ...pod.status,
        phase,
        containerStatuses: [
          {
            name: 'probe',
            image: 'curlimages/curl:8.8.0',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: { terminated: { exitCode, reason: exitCode ? 'Error' : 'Completed', message: `probe result ${exitCode}` } },
          },
        ],
      };
      await core.replaceNamespacedPodStatus({ namespace: NS, name: pod.metadata!.name!, body: { ...pod, status } as k8s.V1Pod });
    };
    await finish('probe-ok', 'Succeeded', 0);
    await finish('probe-bad', 'Failed', 7);
    const ok = await untilServer(
      'probe-ok complete',
      async () => {
        const j = await batch.readNamespacedJob({ namespace: NS, name: 'probe-ok' });
        return j.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True') && j;
      },
      15_000,
    );
    expect(ok.status?.succeeded).toBe(1);
    expect(ok.status?.completionTime).toBeTruthy();
    const bad = await untilServer(
      'probe-bad failed',
      async () => {
        const j = await batch.readNamespacedJob({ namespace: NS, name: 'probe-bad' });
        return j.status?.conditions?.some((c) => c.type === 'Failed' && c.reason === 'BackoffLimitExceeded') && j;
      },
      15_000,
    );
    expect(bad.status?.failed).toBe(1);
    const pods = (await core.listNamespacedPod({ namespace: NS, labelSelector: 'job-name=probe-bad' })).items;
    expect(pods.map((p) => p.status?.containerStatuses?.[0]?.state?.terminated?.message)).toEqual(['probe result 7']);
    // A Job's pod template is immutable.
    const immut = await batch
      .patchNamespacedJob(
        { namespace: NS, name: 'probe-ok', body: { spec: { template: { metadata: { labels: { x: 'y' } } } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      )
      .catch((e: { code: number }) => e.code);
    expect(immut).toBe(422);
  });
});
