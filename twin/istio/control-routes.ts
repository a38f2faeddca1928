// Operator and test routes for the Istio side, served by the API server under /_twin/istio:
//   GET /_twin/istio            control planes, gateways, faults, recent probes
//   GET /_twin/istio/proxies    every sidecar: revision, connected or why not, mounted root
//   GET /_twin/istio/faults     the Istio faults in force
//   PUT /_twin/istio/faults     replace them: {"caNeverArrives":["orders"],"staleProxies":{"namespaces":[],"pods":["orders/web-x"]},
//                               "pushErrors":[{"revision":"istio-1-16-5","type":"cds_senderr","perSecond":1}]}
import type { ControlRoute } from '../dns/webhook.js';
import type { MeshLayer } from './mesh-layer.js';

function send(res: Parameters<ControlRoute['handler']>[1], status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
}

export function istioControlRoutes(mesh: MeshLayer): ControlRoute[] {
  return [
    { method: 'GET', path: '/_twin/istio', handler: (_q, res) => send(res, 200, mesh.describe()) },
    { method: 'GET', path: '/_twin/istio/proxies', handler: (_q, res) => send(res, 200, mesh.proxies()) },
    { method: 'GET', path: '/_twin/istio/faults', handler: (_q, res) => send(res, 200, mesh.faults.get()) },
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
