// What the preflight checks read, fetched once per run and shared: the planned namespaces (one list
// call, not one GET each), the webhook configurations, both mesh configs and istiod Deployments,
// the Istio Gateways and VirtualServices. Each check then decides with a pure function over these views.
import type { V1ConfigMap, V1Deployment, V1MutatingWebhookConfiguration, V1Namespace } from '@kubernetes/client-node';
import type { Plan } from '../../plan/schema.js';
import { plannedNamespaces } from '../../plan/schema.js';
import type { KubeAccess, KubeObject } from '../kube/types.js';
import { ISTIO_RESOURCES } from '../kube/istio-resources.js';
import { MESH_CONFIG_KEY, istiodServiceName, meshConfigMapName } from '../../mesh/naming.js';
import { parseMeshConfig } from '../../mesh/meshconfig.js';
import type { RootRelation } from '../shared/ca-roots.js';
import { controlPlaneScope, istiodBuild, type ControlPlaneScope } from '../shared/control-plane-scope.js';
import { labelSelectorOf } from '../shared/pods.js';

export type Side = 'source' | 'target';

export interface NamespaceView {
  name: string;
  labels: Record<string, string>;
}

const kindRef = (kind: string) => ISTIO_RESOURCES.find((r) => r.kind === kind)!;

export class PreflightContext {
  private cache = new Map<string, Promise<unknown>>();
  /** Set by the root CA check: how the two control planes' own roots relate. */
  rootRelation: RootRelation | undefined;
  constructor(
    readonly kube: KubeAccess,
    readonly plan: Plan,
  ) {}

  private once<T>(key: string, load: () => Promise<T>): Promise<T> {
    let p = this.cache.get(key) as Promise<T> | undefined;
    if (!p) {
      p = load();
      this.cache.set(key, p);
    }
    return p;
  }

  /** Every namespace of the cluster (labels only are used); one paged list. */
  allNamespaces(): Promise<V1Namespace[]> {
    return this.once('namespaces', () => this.kube.listNamespaces());
  }

  /** The planned namespaces that exist, and the names of those that do not. */
  async plannedNamespaces(): Promise<{ present: NamespaceView[]; missing: string[] }> {
    const all = new Map((await this.allNamespaces()).map((n) => [n.metadata?.name ?? '', n]));
    const present: NamespaceView[] = [];
    const missing: string[] = [];
    for (const name of plannedNamespaces(this.plan)) {
      const ns = all.get(name);
      if (ns) present.push({ name, labels: { ...(ns.metadata?.labels ?? {}) } });
      else missing.push(name);
    }
    return { present, missing };
  }

  mutatingWebhookConfigurations(): Promise<V1MutatingWebhookConfiguration[]> {
    return this.once('mwcs', () => this.kube.listMutatingWebhookConfigurations());
  }

  /** ConfigMap `istio`/`istio-<rev>` in the side's istiod namespace (docs/istio-facts.md §7); undefined if absent. */
  meshConfigMap(side: Side): Promise<V1ConfigMap | undefined> {
    const cp = this.plan[side];
    return this.once(`mesh/${side}`, () => this.kube.getConfigMap(cp.istiodNamespace, meshConfigMapName(cp.revision)));
  }

  /** Deployment `istiod[-<rev>]` in the side's istiod namespace; undefined if absent. */
  istiodDeployment(side: Side): Promise<V1Deployment | undefined> {
    const cp = this.plan[side];
    return this.once(`istiod/${side}`, () => this.kube.getWorkload('Deployment', cp.istiodNamespace, istiodServiceName(cp.revision)));
  }

  /** How far the side's discoverySelectors reach, by its istiod's version (shared/control-plane-scope.ts). Throws on an unreadable mesh config. */
  scope(side: Side): Promise<ControlPlaneScope> {
    return this.once(`scope/${side}`, async () => {
      const [d, cm] = await Promise.all([this.istiodDeployment(side), this.meshConfigMap(side)]);
      return controlPlaneScope(istiodBuild(d), parseMeshConfig(cm?.data?.[MESH_CONFIG_KEY]).discoverySelectors);
    });
  }

  /** Every networking.istio.io Gateway in the cluster (one paged list). */
  istioGateways(): Promise<KubeObject[]> {
    return this.once('gateways', () => this.kube.listCustomObjects(kindRef('Gateway'), undefined));
  }

  /** Every VirtualService in the cluster (one paged list). */
  virtualServices(): Promise<KubeObject[]> {
    return this.once('virtualservices', () => this.kube.listCustomObjects(kindRef('VirtualService'), undefined));
  }

  /** Labels of the target gateway's pods (Gateways select them); the plan's selector when none runs. */
  targetGatewayPodLabels(): Promise<Record<string, string>> {
    const gw = this.plan.target.gateway;
    return this.once('target-gateway-pods', async () => {
      const pods = await this.kube.listPods(gw.namespace, {
        labelSelector: labelSelectorOf(gw.selector),
      });
      return { ...gw.selector, ...(pods[0]?.metadata?.labels ?? {}) };
    });
  }
}
