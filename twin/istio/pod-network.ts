// The twin's pod network contract, seen from the Istio layer: a pod that answers for real carries
// the annotation twin.meshmove.dev/endpoints mapping a containerPort to a loopback host:port. The
// API server's port-forward, service proxy and webhook service references resolve through it. On a
// real cluster the annotation is inert.
export const ENDPOINTS_ANNOTATION = 'twin.meshmove.dev/endpoints';

/** The annotation value for `{containerPort: "http://127.0.0.1:PORT"}`. */
export function endpointsAnnotation(ports: Record<number, string>): Record<string, string> {
  return { [ENDPOINTS_ANNOTATION]: JSON.stringify(Object.fromEntries(Object.entries(ports).map(([k, v]) => [String(k), v]))) };
}
