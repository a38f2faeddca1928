// The Istio-side faults currently in force (from the scenario, changed at run time through
// /_twin/istio/faults). Components read them on every decision and re-evaluate on change.
import { istioFaultsSchema, type IstioFaults } from '../scenario.js';

export class IstioFaultState {
  private current: IstioFaults;
  private readonly listeners = new Set<(f: IstioFaults) => void>();

  constructor(initial?: Partial<IstioFaults>) {
    this.current = istioFaultsSchema.parse(initial ?? {});
  }

  get(): IstioFaults {
    return this.current;
  }

  /** Replaces every Istio fault; throws a zod error on invalid input. */
  set(next: unknown): IstioFaults {
    this.current = istioFaultsSchema.parse(next ?? {});
    for (const l of [...this.listeners]) l(this.current);
    return this.current;
  }

  onChange(fn: (f: IstioFaults) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  caBlocked(namespace: string): boolean {
    return this.current.caNeverArrives.includes(namespace);
  }

  proxyStale(namespace: string, pod: string): boolean {
    const s = this.current.staleProxies;
    return s.namespaces.includes(namespace) || s.pods.includes(`${namespace}/${pod}`);
  }
}
