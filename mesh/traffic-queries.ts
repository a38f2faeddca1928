// The PromQL meshmove asks Prometheus, over the metric every Istio proxy exports for each request:
// istio_requests_total (Envoy's Istio stats; labels reporter, source_workload[_namespace],
// destination_service_namespace, response_code, ...). Prometheus evaluates them; meshmove only
// compares the numbers it gets back. Pure, so the workflow can show the same queries in its gates.
//
// - A namespace is judged by what its own sidecars report (reporter="destination"): requests that
//   reached it, and of those the 5xx answers.
// - A gateway is judged by what its proxy reports as the client of each request (reporter="source",
//   source_workload = the gateway Deployment), 404s and 503s it answers itself included.

export const ISTIO_REQUESTS_TOTAL = 'istio_requests_total';

/** A rate window in Prometheus' duration syntax (whole seconds, at least 1s). */
export function promDuration(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))}s`;
}

function selector(labels: Record<string, string>, errorsOnly = false): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  if (errorsOnly) parts.push('response_code=~"5.."');
  return `${ISTIO_REQUESTS_TOTAL}{${parts.join(',')}}`;
}

/**
 * Errors over requests. With no 5xx series at all the numerator would be empty and so would the
 * ratio: the requests times 0 stand in, so a namespace without errors answers 0, one without
 * requests answers nothing (empty) and one whose requests stopped answers NaN (0/0).
 */
function errorRatio(labels: Record<string, string>, window: string, by?: string): string {
  const sum = by ? `sum by (${by})` : 'sum';
  const all = `${sum} (rate(${selector(labels)}[${window}]))`;
  const errors = `${sum} (rate(${selector(labels, true)}[${window}]))`;
  return `(${errors} or ${all} * 0) / ${all}`;
}

const NAMESPACE_LABEL = 'destination_service_namespace';

/** Request rate (per second) into each namespace, one sample per namespace. */
export function requestRateByNamespace(windowMs: number): string {
  return `sum by (${NAMESPACE_LABEL}) (rate(${selector({ reporter: 'destination' })}[${promDuration(windowMs)}]))`;
}

/** 5xx ratio of each namespace, one sample per namespace that had requests. */
export function errorRatioByNamespace(windowMs: number): string {
  return errorRatio({ reporter: 'destination' }, promDuration(windowMs), NAMESPACE_LABEL);
}

/** 5xx ratio of one namespace's requests. */
export function namespaceErrorRatio(namespace: string, windowMs: number): string {
  return errorRatio({ reporter: 'destination', [NAMESPACE_LABEL]: namespace }, promDuration(windowMs));
}

/** Requests per second one namespace received. */
export function namespaceRequestRate(namespace: string, windowMs: number): string {
  return `sum(rate(${selector({ reporter: 'destination', [NAMESPACE_LABEL]: namespace })}[${promDuration(windowMs)}]))`;
}

export interface GatewayWorkload {
  namespace: string;
  /** The gateway Deployment's name (Istio's source_workload). */
  workload: string;
}

/** Requests per second a gateway answered, whatever the answer. */
export function gatewayRequestRate(gw: GatewayWorkload, windowMs: number): string {
  return `sum(rate(${selector({ reporter: 'source', source_workload: gw.workload, source_workload_namespace: gw.namespace })}[${promDuration(windowMs)}]))`;
}

/** The label a per-namespace answer is keyed by. */
export const BY_NAMESPACE = NAMESPACE_LABEL;
