// Reaching a gateway the way a client on the internet does: its Service's external address (the
// one DNS points at), plain HTTP with the Host header of the site. Node's fetch does not let a
// caller set Host, so this uses node:http.
import http from 'node:http';
import type { V1Service } from '@kubernetes/client-node';
import type { GatewayRef } from '../../plan/schema.js';
import { mustExist } from '../kube/errors.js';
import type { ClusterDeps } from './deps.js';

/**
 * Where clients reach the gateway: the first load-balancer ingress address (IP, else hostname),
 * else the first of `spec.externalIPs` (bare metal, no cloud load balancer: kube-proxy answers on
 * those IPs at the Service's ports; `kubectl get svc` lists both as EXTERNAL-IP). Undefined while
 * neither is set. A load balancer, once assigned, is preferred: it is what the cloud publishes.
 */
export function externalAddress(svc: V1Service | undefined): string | undefined {
  for (const i of svc?.status?.loadBalancer?.ingress ?? []) {
    if (i.ip) return i.ip;
    if (i.hostname) return i.hostname;
  }
  return svc?.spec?.externalIPs?.find((ip) => ip !== '');
}

/** What `externalAddress` reads, for messages when it finds nothing. */
export const EXTERNAL_ADDRESS_SOURCES = 'status.loadBalancer.ingress and spec.externalIPs are empty';

/** The Service port that carries plain HTTP: named http/http2 (Istio's convention), else 80, else the first. */
export function httpPort(svc: V1Service | undefined): number | undefined {
  const ports = svc?.spec?.ports ?? [];
  const named = ports.find((p) => p.name === 'http2' || p.name === 'http' || p.name?.startsWith('http-'));
  return (named ?? ports.find((p) => p.port === 80) ?? ports[0])?.port;
}

export async function readGatewayService(deps: ClusterDeps, gw: GatewayRef): Promise<V1Service> {
  return mustExist(
    await deps.kube.getService(gw.namespace, gw.service),
    { resource: 'services', group: '', namespace: gw.namespace, name: gw.service },
    'the plan names a gateway Service the cluster does not have',
  );
}

export interface HttpProbeResult {
  /** 0 when no HTTP answer came (connection refused, timeout). */
  status: number;
  error?: string;
}

export function httpGetWithHost(address: string, port: number, host: string, path: string, timeoutMs: number): Promise<HttpProbeResult> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: address,
        port,
        path,
        method: 'GET',
        agent: false,
        headers: { host, connection: 'close', 'user-agent': 'meshmove-probe' },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        res.on('error', (e) => resolve({ status: res.statusCode ?? 0, error: e.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
    req.end();
  });
}
