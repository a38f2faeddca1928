// What the preflight checks read, fetched once per run and shared: the planned namespaces (one list
// call, not one GET each), the webhook configurations, both mesh configs. Each check then decides
// with a pure function over these views.
import type { V1ConfigMap, V1MutatingWebhookConfiguration, V1Namespace } from '@kubernetes/client-node';
import type { Plan } from '../../plan/schema.js';
import { plannedNamespaces } from '../../plan/schema.js';
import type { KubeAccess } from '../kube/types.js';
import { meshConfigMapName } from '../../mesh/naming.js';

export type Side = 'source' | 'target';

export interface NamespaceView {
  name: string;
  labels: Record<string, string>;
}

export interface PreflightTuning {
  /**
   * How long the root-CA check watches istio-ca-root-cert for two CAs overwriting each other
   * (see root-ca.ts), and how often it looks.
   */
  rootObservationMs: number;
  rootSampleMs: number;
}

export const DEFAULT_PREFLIGHT_TUNING: PreflightTuning = { rootObservationMs: 3_000, rootSampleMs: 250 };

export class PreflightContext {
  private cache = new Map<string, Promise<unknown>>();
  readonly tuning: PreflightTuning;
  constructor(
    readonly kube: KubeAccess,
    readonly plan: Plan,
    tuning: Partial<PreflightTuning> = {},
  ) {
    this.tuning = { ...DEFAULT_PREFLIGHT_TUNING, ...tuning };
  }

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

  /** ConfigMap `istio`/`istio-<rev>` in the side's istiod namespace (facts §7); undefined if absent. */
  meshConfigMap(side: Side): Promise<V1ConfigMap | undefined> {
    const cp = this.plan[side];
    return this.once(`mesh/${side}`, () => this.kube.getConfigMap(cp.istiodNamespace, meshConfigMapName(cp.revision)));
  }
}
