// How an ingress gateway routes a request (pure): the VirtualServices its istiod sees, bound through
// `gateways:` to a Gateway whose selector matches this gateway's pods and whose server hosts admit
// the VirtualService, matched by Host and path. A destination whose namespace the istiod does not
// discover has no cluster in the gateway's config: 503 (the field report's 503). No route: 404.
import type { IstioGateway, IstioVirtualService } from './cluster-view.js';

export interface Destination {
  service: string;
  namespace: string;
  port?: number;
}

export type RouteDecision =
  | { status: 404; reason: string }
  | { status: 503; reason: string; destination?: Destination }
  | { status: 'forward'; destination: Destination; virtualService: string };

export interface RoutingContext {
  /** The gateway pods' labels and namespace. */
  podLabels: Record<string, string>;
  namespace: string;
  gateways: readonly IstioGateway[];
  virtualServices: readonly IstioVirtualService[];
  /** Istio config in this namespace reaches the gateway's istiod (enhanced scoping). */
  seesConfigIn(namespace: string): boolean;
  /** The gateway's istiod discovers services in this namespace. */
  discovers(namespace: string): boolean;
  serviceExists(namespace: string, service: string): boolean;
  hasEndpoints(namespace: string, service: string): boolean;
}

/** Istio host matching: `*` matches all, `*.a.b` matches any name ending in `.a.b`. */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p === '*') return true;
  if (p.startsWith('*')) return h.endsWith(p.slice(1));
  return p === h;
}

/** Host header without a port. */
export function requestHost(header: string | undefined): string {
  const h = (header ?? '').trim();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon > 0 ? h.slice(0, colon) : h;
}

/** A Gateway server host `ns/host`, `./host`, `*\/host` or plain `host` admits this VirtualService host? */
function serverHostAdmits(serverHost: string, gwNamespace: string, vsNamespace: string, vsHost: string, reqHost: string): boolean {
  let nsPart = '*';
  let host = serverHost;
  const slash = serverHost.indexOf('/');
  if (slash >= 0) {
    nsPart = serverHost.slice(0, slash);
    host = serverHost.slice(slash + 1);
  }
  if (nsPart === '.') nsPart = gwNamespace;
  if (nsPart !== '*' && nsPart !== vsNamespace) return false;
  return hostMatches(host, reqHost) && (hostMatches(host, vsHost) || hostMatches(vsHost, host));
}

function gatewaySelects(gw: IstioGateway, podLabels: Record<string, string>): boolean {
  const sel = gw.spec?.selector ?? {};
  // An empty selector selects every gateway pod (Istio applies it to all gateways).
  return Object.entries(sel).every(([k, v]) => podLabels[k] === v);
}

function boundGateways(vs: IstioVirtualService, ctx: RoutingContext): IstioGateway[] {
  const vsNs = vs.metadata.namespace;
  const out: IstioGateway[] = [];
  for (const ref of vs.spec?.gateways ?? []) {
    if (ref === 'mesh') continue;
    const [ns, name] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : [vsNs, ref];
    const gw = ctx.gateways.find((g) => g.metadata.namespace === ns && g.metadata.name === name);
    if (gw && ctx.seesConfigIn(gw.metadata.namespace) && gatewaySelects(gw, ctx.podLabels)) out.push(gw);
  }
  return out;
}

function pathMatches(match: { uri?: { exact?: string; prefix?: string; regex?: string } } | undefined, path: string): boolean {
  const uri = match?.uri;
  if (!uri) return true;
  if (uri.exact !== undefined) return path === uri.exact;
  if (uri.prefix !== undefined) return path.startsWith(uri.prefix);
  if (uri.regex !== undefined) {
    try {
      return new RegExp(`^(?:${uri.regex})$`).test(path);
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * A destination host as a cluster service: `name` (the VirtualService's namespace), `name.ns`,
 * `name.ns.svc`, `name.ns.svc.cluster.local`. Anything else is not a Kubernetes service.
 */
export function parseServiceHost(host: string, defaultNamespace: string): { service: string; namespace: string } | null {
  const parts = host.toLowerCase().split('.');
  if (parts.length === 1) return { service: parts[0]!, namespace: defaultNamespace };
  if (parts.length === 2) return { service: parts[0]!, namespace: parts[1]! };
  if (parts[2] === 'svc' && (parts.length === 3 || parts.slice(3).join('.') === 'cluster.local'))
    return { service: parts[0]!, namespace: parts[1]! };
  return null;
}

export function routeRequest(hostHeader: string | undefined, rawPath: string, ctx: RoutingContext): RouteDecision {
  const host = requestHost(hostHeader);
  const path = rawPath.split('?')[0] || '/';
  const candidates = ctx.virtualServices
    .filter((vs) => ctx.seesConfigIn(vs.metadata.namespace))
    .slice()
    .sort((a, b) => (`${a.metadata.namespace}/${a.metadata.name}` < `${b.metadata.namespace}/${b.metadata.name}` ? -1 : 1));
  for (const vs of candidates) {
    const vsHost = (vs.spec?.hosts ?? []).find((h) => hostMatches(h, host));
    if (vsHost === undefined) continue;
    const admitted = boundGateways(vs, ctx).some((gw) =>
      (gw.spec?.servers ?? []).some((srv) =>
        (srv.hosts ?? []).some((sh) => serverHostAdmits(sh, gw.metadata.namespace, vs.metadata.namespace, vsHost, host)),
      ),
    );
    if (!admitted) continue;
    for (const http of vs.spec?.http ?? []) {
      const matches = http.match && http.match.length > 0 ? http.match : [undefined];
      if (!matches.some((m) => pathMatches(m, path))) continue;
      const routes = http.route ?? [];
      const chosen = routes.reduce<(typeof routes)[number] | undefined>(
        (best, r) => (best === undefined || (r.weight ?? 0) > (best.weight ?? 0) ? r : best),
        undefined,
      );
      const dhost = chosen?.destination?.host;
      if (!dhost) return { status: 503, reason: `route in VirtualService ${vs.metadata.namespace}/${vs.metadata.name} has no destination` };
      const svc = parseServiceHost(dhost, vs.metadata.namespace);
      const port = chosen?.destination?.port?.number;
      const destination: Destination | undefined = svc ? { ...svc, ...(port !== undefined ? { port } : {}) } : undefined;
      if (!destination) return { status: 503, reason: `no cluster for host "${dhost}" (not a service this istiod knows)` };
      if (!ctx.discovers(destination.namespace)) {
        return {
          status: 503,
          reason: `namespace "${destination.namespace}" is not discovered by the gateway's istiod (discoverySelectors): no cluster for ${dhost}`,
          destination,
        };
      }
      if (!ctx.serviceExists(destination.namespace, destination.service)) {
        return { status: 503, reason: `service ${destination.service}.${destination.namespace} does not exist`, destination };
      }
      if (!ctx.hasEndpoints(destination.namespace, destination.service)) {
        return { status: 503, reason: `no healthy upstream for ${destination.service}.${destination.namespace}`, destination };
      }
      return { status: 'forward', destination, virtualService: `${vs.metadata.namespace}/${vs.metadata.name}` };
    }
  }
  return { status: 404, reason: `no route for host "${host}" path "${path}"` };
}
