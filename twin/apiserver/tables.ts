// Server-side printing (meta.k8s.io/v1 Table), which `kubectl get` asks for, with the columns
// kubectl users know for the common kinds and NAME/AGE for the rest.
import type { ResourceDef } from './resources.js';
import type { KubeObject } from './types.js';

interface Column {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}
const col = (name: string, type = 'string', format = '', priority = 0): Column => ({ name, type, format, description: name, priority });

export function age(ts: string | undefined, now = Date.now()): string {
  if (!ts) return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

type Row = (o: KubeObject) => unknown[];
const a = (o: unknown, ...p: string[]): unknown =>
  p.reduce<unknown>((x, k) => (x && typeof x === 'object' ? (x as Record<string, unknown>)[k] : undefined), o);
const n = (v: unknown): number => (typeof v === 'number' ? v : 0);

const PRINTERS: Record<string, { columns: Column[]; row: Row }> = {
  '/namespaces': {
    columns: [col('Name', 'string', 'name'), col('Status'), col('Age')],
    row: (o) => [o.metadata.name, a(o, 'status', 'phase') ?? 'Active', age(o.metadata.creationTimestamp)],
  },
  '/pods': {
    columns: [
      col('Name', 'string', 'name'),
      col('Ready'),
      col('Status'),
      col('Restarts', 'string'),
      col('Age'),
      col('IP', 'string', '', 1),
      col('Node', 'string', '', 1),
    ],
    row: (o) => {
      const cs = (a(o, 'status', 'containerStatuses') ?? []) as Array<{
        ready?: boolean;
        restartCount?: number;
        state?: { waiting?: { reason?: string }; terminated?: { reason?: string } };
      }>;
      const total = ((a(o, 'spec', 'containers') ?? []) as unknown[]).length;
      const waiting = cs.find((c) => c.state?.waiting?.reason)?.state?.waiting?.reason;
      const terminated = cs.find((c) => c.state?.terminated?.reason)?.state?.terminated?.reason;
      const status = o.metadata.deletionTimestamp
        ? 'Terminating'
        : (waiting ??
          (a(o, 'status', 'phase') === 'Succeeded' || a(o, 'status', 'phase') === 'Failed'
            ? (terminated ?? a(o, 'status', 'phase'))
            : a(o, 'status', 'phase')));
      return [
        o.metadata.name,
        `${cs.filter((c) => c.ready).length}/${total}`,
        status ?? 'Pending',
        String(cs.reduce((s, c) => s + (c.restartCount ?? 0), 0)),
        age(o.metadata.creationTimestamp),
        a(o, 'status', 'podIP') ?? '<none>',
        a(o, 'spec', 'nodeName') ?? '<none>',
      ];
    },
  },
  'apps/deployments': {
    columns: [col('Name', 'string', 'name'), col('Ready'), col('Up-to-date', 'integer'), col('Available', 'integer'), col('Age')],
    row: (o) => [
      o.metadata.name,
      `${n(a(o, 'status', 'readyReplicas'))}/${n(a(o, 'spec', 'replicas'))}`,
      n(a(o, 'status', 'updatedReplicas')),
      n(a(o, 'status', 'availableReplicas')),
      age(o.metadata.creationTimestamp),
    ],
  },
  'apps/replicasets': {
    columns: [col('Name', 'string', 'name'), col('Desired', 'integer'), col('Current', 'integer'), col('Ready', 'integer'), col('Age')],
    row: (o) => [
      o.metadata.name,
      n(a(o, 'spec', 'replicas')),
      n(a(o, 'status', 'replicas')),
      n(a(o, 'status', 'readyReplicas')),
      age(o.metadata.creationTimestamp),
    ],
  },
  '/services': {
    columns: [col('Name', 'string', 'name'), col('Type'), col('Cluster-IP'), col('External-IP'), col('Port(s)'), col('Age')],
    row: (o) => {
      const ports = ((a(o, 'spec', 'ports') ?? []) as Array<{ port: number; nodePort?: number; protocol?: string }>)
        .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}`)
        .join(',');
      const ing = ((a(o, 'status', 'loadBalancer', 'ingress') ?? []) as Array<{ ip?: string; hostname?: string }>)
        .map((i) => i.ip ?? i.hostname)
        .join(',');
      return [
        o.metadata.name,
        a(o, 'spec', 'type') ?? 'ClusterIP',
        a(o, 'spec', 'clusterIP') ?? '<none>',
        ing || (a(o, 'spec', 'type') === 'LoadBalancer' ? '<pending>' : '<none>'),
        ports || '<none>',
        age(o.metadata.creationTimestamp),
      ];
    },
  },
  'batch/jobs': {
    columns: [col('Name', 'string', 'name'), col('Status'), col('Completions'), col('Age')],
    row: (o) => {
      const conds = (a(o, 'status', 'conditions') ?? []) as Array<{ type: string; status: string }>;
      const st = conds.find((c) => c.status === 'True' && (c.type === 'Complete' || c.type === 'Failed'))?.type ?? 'Running';
      return [
        o.metadata.name,
        st,
        `${n(a(o, 'status', 'succeeded'))}/${n(a(o, 'spec', 'completions')) || 1}`,
        age(o.metadata.creationTimestamp),
      ];
    },
  },
};

export function toTable(
  def: ResourceDef,
  items: KubeObject[],
  resourceVersion: string,
  includeObject: string,
  continueToken?: string,
): object {
  const printer = PRINTERS[`${def.group}/${def.resource}`] ?? {
    columns: [col('Name', 'string', 'name'), col('Age')],
    row: (o: KubeObject) => [o.metadata.name, age(o.metadata.creationTimestamp)],
  };
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion, ...(continueToken ? { continue: continueToken } : {}) },
    columnDefinitions: printer.columns,
    rows: items.map((o) => ({
      cells: printer.row(o),
      object:
        includeObject === 'None'
          ? undefined
          : includeObject === 'Object'
            ? o
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
