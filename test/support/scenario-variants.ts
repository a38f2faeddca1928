// Scenario variants shared by the twin, activity and end-to-end tests. Each edits a scenario, raw
// (the parsed YAML document) or validated: both have these fields.

interface ControlPlaneLike {
  revision: string;
  version?: string;
  rootCA?: string;
}
interface ScenarioLike {
  sameRootCA?: boolean | undefined;
  controlPlanes: ControlPlaneLike[];
}

export const TARGET_REVISION = 'istio-1-16-5';

/**
 * The field-report cluster as the first run on a real kube-apiserver with real istiods found it
 * (docs/real-control-plane.md): two different self-signed roots, and a target whose
 * discoverySelectors scope the CA writer and Istio config (a current istiod: 1.25+ always does).
 * Its own namespace istio-1-16-5 is not selected, so the target never writes istio-ca-root-cert
 * there (the source's root sits in that copy) and ignores the Gateway that lives there.
 */
export function asOnRealStack<S extends ScenarioLike>(s: S): S {
  s.sameRootCA = false;
  const target = s.controlPlanes.find((c) => c.revision === TARGET_REVISION);
  if (!target) throw new Error(`the scenario has no control plane ${TARGET_REVISION}`);
  target.version = '1.31.0';
  return s;
}
