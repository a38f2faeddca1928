// The kubelet stand-in: binds new pods to the node and, after their start delay (podStartDelay),
// marks them Running and Ready with the conditions and containerStatuses a real kubelet reports
// (IPs are made up and never contacted). Pods of a workload under a stuckRollouts fault stay not
// Ready in CrashLoopBackOff until the fault is cleared. Job pods are left Running for their runner
// to end.
import { randomBytes } from 'node:crypto';
import type { StoreEvent } from '../storage.js';
import { jsonClone, type KubeObject } from '../types.js';
import { controllerRef, defOf, podStartDelay, type ControllerContext } from './context.js';

interface ContainerSpec {
  name: string;
  image?: string;
}

export class Kubelet {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Pods held back by a stuck-rollout fault, re-checked when faults change. */
  private readonly stuck = new Set<string>();
  private nextIp = 2;
  private readonly unsubscribeFaults: () => void;

  constructor(private readonly ctx: ControllerContext) {
    this.unsubscribeFaults = ctx.faults.onChange(() => {
      for (const key of [...this.stuck]) this.start(key);
    });
  }

  onEvent(e: StoreEvent): void {
    if (e.def.group !== '' || e.def.resource !== 'pods') return;
    const pod = e.stored.obj;
    const key = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
    if (e.type === 'DELETED') {
      const t = this.timers.get(key);
      if (t) clearTimeout(t);
      this.timers.delete(key);
      this.stuck.delete(key);
      this.ctx.logs.forget(pod.metadata.namespace ?? '', pod.metadata.name ?? '');
      return;
    }
    // A pod restored from a snapshot keeps its IP: new ones are allocated past it.
    const ip = /^10\.244\.(\d+)\.(\d+)$/.exec(String((pod.status as { podIP?: string } | undefined)?.podIP ?? ''));
    if (e.type === 'ADDED' && ip) this.nextIp = Math.max(this.nextIp, Number(ip[1]) * 250 + Number(ip[2]) - 1);
    if (e.type === 'ADDED' && (pod.status as { phase?: string } | undefined)?.phase === 'Pending') {
      const t = setTimeout(
        () => {
          this.timers.delete(key);
          this.start(key);
        },
        // The workload is looked up only when the scenario spreads pod starts.
        this.ctx.podStartSpreadMs > 0
          ? podStartDelay(this.ctx, pod.metadata.namespace ?? '', this.workloadOf(pod))
          : this.ctx.podStartDelayMs,
      );
      this.timers.set(key, t);
    }
  }

  /** The workload a pod belongs to (Deployment through its ReplicaSet). */
  private workloadOf(pod: KubeObject): string {
    const ref = controllerRef(pod);
    if (!ref) return pod.metadata.name ?? '';
    if (ref.kind === 'ReplicaSet') {
      const rs = this.ctx.store.get(defOf(this.ctx, 'apps', 'replicasets'), pod.metadata.namespace ?? '', ref.name)?.obj;
      const dep = rs ? controllerRef(rs) : undefined;
      return dep?.kind === 'Deployment' ? dep.name : ref.name;
    }
    return ref.name;
  }

  private start(key: string): void {
    const [ns, name] = key.split('/') as [string, string];
    const podDef = defOf(this.ctx, '', 'pods');
    const cur = this.ctx.store.get(podDef, ns, name)?.obj;
    if (!cur) {
      this.stuck.delete(key);
      return;
    }
    const phase = (cur.status as { phase?: string } | undefined)?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') {
      this.stuck.delete(key);
      return;
    }
    const stuck = this.ctx.faults.isStuck(ns, this.workloadOf(cur));
    if (stuck) this.stuck.add(key);
    else this.stuck.delete(key);
    const now = this.ctx.core.now();
    const prevStatus = (cur.status ?? {}) as Record<string, unknown>;
    const spec = (cur.spec ?? {}) as { containers?: ContainerSpec[]; initContainers?: ContainerSpec[]; nodeName?: string };
    const podIP = (prevStatus.podIP as string | undefined) ?? `10.244.${Math.floor(this.nextIp / 250) % 250}.${(this.nextIp++ % 250) + 2}`;
    const ready = stuck ? 'False' : 'True';
    const cond = (type: string, status: string, reason?: string): object => ({
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: now,
      ...(reason ? { reason } : {}),
    });
    const containerStatuses = (spec.containers ?? []).map((c) => ({
      name: c.name,
      image: c.image,
      imageID: `${c.image ?? ''}@sha256:${'0'.repeat(64)}`,
      containerID: `containerd://${randomBytes(32).toString('hex')}`,
      ready: !stuck,
      started: !stuck,
      restartCount: stuck ? 3 : 0,
      state: stuck
        ? { waiting: { reason: 'CrashLoopBackOff', message: `back-off 40s restarting failed container=${c.name} pod=${name}_${ns}` } }
        : { running: { startedAt: now } },
      ...(stuck ? { lastState: { terminated: { exitCode: 1, reason: 'Error', startedAt: now, finishedAt: now } } } : {}),
    }));
    const next: KubeObject = jsonClone(cur);
    next.spec = { ...(next.spec ?? {}), nodeName: spec.nodeName ?? this.ctx.nodeName };
    next.status = {
      ...prevStatus,
      phase: 'Running',
      conditions: [
        cond('PodReadyToStartContainers', 'True'),
        cond('Initialized', 'True'),
        cond('Ready', ready, stuck ? 'ContainersNotReady' : undefined),
        cond('ContainersReady', ready, stuck ? 'ContainersNotReady' : undefined),
        cond('PodScheduled', 'True'),
      ],
      hostIP: '172.18.0.2',
      hostIPs: [{ ip: '172.18.0.2' }],
      podIP,
      podIPs: [{ ip: podIP }],
      startTime: (prevStatus.startTime as string | undefined) ?? now,
      containerStatuses,
      ...(spec.initContainers?.length
        ? {
            initContainerStatuses: spec.initContainers.map((c) => ({
              name: c.name,
              image: c.image,
              ready: true,
              restartCount: 0,
              state: { terminated: { exitCode: 0, reason: 'Completed', startedAt: now, finishedAt: now } },
            })),
          }
        : {}),
    };
    // The kubelet writes status (and the scheduler the binding) directly: trusted components.
    this.ctx.core.writeTrusted(podDef, next, cur);
    for (const c of spec.containers ?? []) {
      this.ctx.logs.append(
        ns,
        name,
        c.name,
        stuck
          ? `[twin-kubelet] container ${c.name} (${c.image ?? ''}) exited with code 1; back-off restarting`
          : `[twin-kubelet] started container ${c.name} (${c.image ?? ''})`,
      );
    }
  }

  stop(): void {
    this.unsubscribeFaults();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
