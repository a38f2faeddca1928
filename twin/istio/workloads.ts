// The scenario's application side as Kubernetes objects: namespaces with their labels, each
// workload's Deployment/StatefulSet/DaemonSet (pods answer through the shared app server via the
// pod network annotation) and its Service.
import type { NamespaceSpec, Scenario, WorkloadSpec } from '../scenario.js';
import { endpointsAnnotation } from './pod-network.js';

export const APP_CONTAINER = 'app';

export function namespaceObject(name: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } };
}

export function workloadObjects(ns: string, w: WorkloadSpec, backendUrl: string): Array<Record<string, unknown>> {
  const port = w.service === false ? 8080 : w.service.port;
  const podLabels = { app: w.name, version: 'v1', ...w.labels };
  const template = {
    metadata: { labels: podLabels, annotations: endpointsAnnotation({ [port]: backendUrl }) },
    spec: {
      containers: [
        {
          name: APP_CONTAINER,
          image: `registry.y7test.com/${ns}/${w.name}:1.0.0`,
          ports: [{ containerPort: port, name: 'http', protocol: 'TCP' }],
          readinessProbe: { httpGet: { path: '/healthz', port } },
        },
      ],
    },
  };
  const selector = { matchLabels: { app: w.name } };
  const objects: Array<Record<string, unknown>> = [];
  const svcName = w.service === false ? undefined : (w.service.name ?? w.name);
  switch (w.kind) {
    case 'Deployment':
      objects.push({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: w.name, namespace: ns, labels: { app: w.name } },
        spec: { replicas: w.replicas, selector, template },
      });
      break;
    case 'StatefulSet':
      objects.push({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: w.name, namespace: ns, labels: { app: w.name } },
        spec: { replicas: w.replicas, serviceName: svcName ?? w.name, selector, template },
      });
      break;
    case 'DaemonSet':
      objects.push({
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: w.name, namespace: ns, labels: { app: w.name } },
        spec: { selector, template },
      });
      break;
  }
  if (svcName !== undefined) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: svcName, namespace: ns, labels: { app: w.name } },
      spec: { selector: { app: w.name }, ports: [{ name: 'http', port, targetPort: port, protocol: 'TCP' }] },
    });
  }
  return objects;
}

export function namespaceObjects(
  n: NamespaceSpec,
  backendUrl: string,
): { namespace: Record<string, unknown>; contents: Array<Record<string, unknown>> } {
  return { namespace: namespaceObject(n.name, n.labels), contents: n.workloads.flatMap((w) => workloadObjects(n.name, w, backendUrl)) };
}

/** Every namespace the scenario needs before anything else (control planes, gateways, apps). */
export function scenarioNamespaces(s: Scenario): string[] {
  const names = new Set<string>();
  for (const cp of s.controlPlanes) names.add(cp.namespace);
  for (const g of s.gateways) names.add(g.namespace);
  for (const n of s.namespaces) names.add(n.name);
  return [...names];
}
