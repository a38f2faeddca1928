// Operator and test routes for the Istio side, served by the API server under /_twin/istio:
//   GET  /_twin/istio            control planes, gateways, stats server, faults, recent probes
//   GET  /_twin/istio/proxies    every sidecar: revision, connected or why not, mounted root
//   GET  /_twin/istio/faults     the Istio faults in force
//   PUT  /_twin/istio/faults     replace them: {"caNeverArrives":["orders"],"staleProxies":{"namespaces":[],"pods":["orders/web-x"]},
//                                "pushErrors":[{"revision":"istio-1-16-5","type":"cds_senderr","perSecond":1}],
//                                "requestErrors":[{"namespace":"orders","revision":"istio-1-16-5","rate":0.5,"status":500},
//                                                 {"gateway":"istio-system/istio-ingressgateway","rate":0.1}]}
//                                requestErrors: exactly one of namespace (the app's pods answer the error) or gateway
//                                ("<ns>/<name>": the gateway aborts); revision (optional) = only when the destination
//                                pod's sidecar was injected by it; rate in (0,1], deterministic (0.5 = every 2nd
//                                matching request); status defaults to 500.
//   POST /_twin/istio/call       an in-mesh call from a running pod of a namespace, as its sidecar makes it (the probe
//                                runner's evaluation): {"from":"orders","url":"http://payments.payments.svc.cluster.local:8080/x"}
//                                → 200 {"status":200} or {"status":0,"reason":"..."} (0 = no HTTP response; reason when
//                                the answer is not the app's); 400 for a bad body. Counted in istio_requests_total.
import type { ControlRoute } from '../dns/webhook.js';
import type { MeshLayer } from './mesh-layer.js';

function send(res: Parameters<ControlRoute['handler']>[1], status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

/** The answer of POST /_twin/istio/call (a load generator's contract: keep this shape). */
export interface CallAnswer {
  /** The HTTP status the caller got; 0 when no HTTP response came back. */
  status: number;
  reason?: string;
}

/** Pure: the body of POST /_twin/istio/call, or what is wrong with it. */
export function parseCallBody(body: Buffer): { from: string; url: string } | { error: string } {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { error: 'body is not JSON: expected {"from":"<namespace>","url":"http://<svc>.<ns>.svc.cluster.local:<port>/<path>"}' };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { error: 'body must be a JSON object {"from","url"}' };
  const { from, url } = json as Record<string, unknown>;
  if (typeof from !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(from)) return { error: '"from" must be a namespace name' };
  if (typeof url !== 'string' || url === '') return { error: '"url" must be a non-empty string' };
  try {
    new URL(url);
  } catch {
    return { error: `"url" is not a URL: ${url}` };
  }
  return { from, url };
}

export function istioControlRoutes(mesh: MeshLayer): ControlRoute[] {
  return [
    { method: 'GET', path: '/_twin/istio', handler: (_q, res) => send(res, 200, mesh.describe()) },
    { method: 'GET', path: '/_twin/istio/proxies', handler: (_q, res) => send(res, 200, mesh.proxies()) },
    { method: 'GET', path: '/_twin/istio/faults', handler: (_q, res) => send(res, 200, mesh.faults.get()) },
    {
      method: 'POST',
      path: '/_twin/istio/call',
      handler: async (_q, res, body) => {
        const parsed = parseCallBody(body);
        if ('error' in parsed) return send(res, 400, { error: parsed.error });
        const from = mesh.calls.callerIn(parsed.from);
        if (!from)
          return send(res, 200, { status: 0, reason: `no running pod in namespace "${parsed.from}" to call from` } satisfies CallAnswer);
        const r = await mesh.calls.call(from, parsed.url);
        const status = Number(r.code);
        const answer: CallAnswer = { status: Number.isFinite(status) ? status : 0 };
        // The reason is given when the answer is not the app's own (no response, mesh or fault answers).
        if (answer.status === 0 || !/ call$/.test(r.why)) answer.reason = r.why;
        return send(res, 200, answer);
      },
    },
    {
      method: 'PUT',
      path: '/_twin/istio/faults',
      handler: (_q, res, body) => {
        let json: unknown;
        try {
          json = JSON.parse(body.toString('utf8') || '{}');
        } catch {
          return send(res, 400, { error: 'body is not JSON' });
        }
        try {
          return send(res, 200, mesh.faults.set(json));
        } catch (err) {
          return send(res, 400, { error: 'invalid Istio faults', detail: err instanceof Error ? err.message : String(err) });
        }
      },
    },
  ];
}
