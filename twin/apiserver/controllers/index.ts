// Wires the generic controllers and the kubelet to storage events through one work queue.
import type { StoreEvent } from '../storage.js';
import { controllerRef, type ControllerContext } from './context.js';
import { DaemonSetController } from './daemonset.js';
import { DeploymentController } from './deployment.js';
import { EndpointsController } from './endpoints.js';
import { JobController } from './job.js';
import { Kubelet } from './kubelet.js';
import { WorkQueue } from './queue.js';
import { ReplicaSetController } from './replicaset.js';
import { StatefulSetController } from './statefulset.js';

export interface Controllers {
  stop(): void;
  idle(): Promise<void>;
}

export function startControllers(ctx: ControllerContext): Controllers {
  // Controllers name objects `ns/name`; queue keys are `Kind|ns|name`.
  const requeueAfter =
    (kind: string) =>
    (key: string, ms: number): void =>
      queue.addAfter(`${kind}|${key.replace('/', '|')}`, ms);
  const deployments = new DeploymentController(ctx, requeueAfter('Deployment'));
  const replicasets = new ReplicaSetController(ctx, requeueAfter('ReplicaSet'));
  const statefulsets = new StatefulSetController(ctx, requeueAfter('StatefulSet'));
  const daemonsets = new DaemonSetController(ctx);
  const jobs = new JobController(ctx);
  const endpoints = new EndpointsController(ctx);
  const kubelet = new Kubelet(ctx);

  const queue: WorkQueue = new WorkQueue(
    async (key) => {
      const [kind, ns, name] = key.split('|') as [string, string, string];
      switch (kind) {
        case 'Deployment':
          return deployments.reconcile(ns, name);
        case 'ReplicaSet':
          return replicasets.reconcile(ns, name);
        case 'StatefulSet':
          return statefulsets.reconcile(ns, name);
        case 'DaemonSet':
          return daemonsets.reconcile(ns, name);
        case 'Job':
          return jobs.reconcile(ns, name);
        case 'Endpoints':
          return endpoints.reconcile(ns);
        default:
          return undefined;
      }
    },
    (key, e) => {
      const code = (e as { code?: number }).code;
      // Conflicts and races with deletions are normal: retry shortly, as controllers do.
      if (code !== 409 && code !== 404) ctx.logger.warn({ err: e, key }, 'reconcile failed');
      queue.addAfter(key, 100);
    },
  );

  const enqueue = (kind: string, ns: string, name: string): void => queue.add(`${kind}|${ns}|${name}`);

  const unsubscribe = ctx.store.subscribe((e: StoreEvent) => {
    const o = e.stored.obj;
    const ns = o.metadata.namespace ?? '';
    const name = o.metadata.name ?? '';
    const key = `${e.def.group}/${e.def.resource}`;
    switch (key) {
      case 'apps/deployments':
        enqueue('Deployment', ns, name);
        break;
      case 'apps/replicasets': {
        enqueue('ReplicaSet', ns, name);
        const owner = controllerRef(o);
        if (owner?.kind === 'Deployment') enqueue('Deployment', ns, owner.name);
        break;
      }
      case 'apps/statefulsets':
        enqueue('StatefulSet', ns, name);
        break;
      case 'apps/daemonsets':
        enqueue('DaemonSet', ns, name);
        break;
      case 'batch/jobs':
        enqueue('Job', ns, name);
        break;
      case '/services':
        enqueue('Endpoints', ns, '');
        break;
      case '/pods': {
        kubelet.onEvent(e);
        const owner = controllerRef(o);
        if (owner) enqueue(owner.kind, ns, owner.name);
        enqueue('Endpoints', ns, '');
        break;
      }
      default:
        break;
    }
  });

  return {
    stop(): void {
      unsubscribe();
      queue.stop();
      kubelet.stop();
    },
    idle: () => queue.whenIdle(),
  };
}
