// istiod's webhook server (port 15017): POST /inject with an AdmissionReview (admission.k8s.io v1 or
// v1beta1), answered with a JSONPatch injecting this revision's sidecar, or allowed unchanged when
// the injector's own checks say no (opt-out, host network, kube-system); and POST /validate, the
// config validation webhook (the twin accepts what its API server has already checked). Reached by
// the API server through the webhook configurations' clientConfig.service → istiod Service → pod
// network annotation.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../../logging/logger.js';
import { INJECTION_PATH, VALIDATION_PATH } from './chart.js';
import { injectionPatch, type PodForInjection, type SidecarParams } from './sidecar-template.js';

/** pkg/kube/inject's IgnoredNamespaces: never injected, whatever the webhooks select. */
const IGNORED_NAMESPACES = new Set(['kube-system', 'kube-public', 'kube-node-lease', 'local-path-storage']);

/**
 * The injector's own decision once a webhook called it (pkg/kube/inject injectRequired, policy
 * `enabled`, no never/always-inject selectors): host-network pods and the ignored namespaces get
 * nothing; the sidecar.istio.io/inject label (else the annotation of the same name) decides when it
 * is exactly "true" or "false"; any other value is logged as invalid and the policy injects.
 */
function injectionRequired(pod: PodForInjection, namespace: string): boolean {
  if (pod.spec?.hostNetwork === true) return false;
  if (IGNORED_NAMESPACES.has(namespace)) return false;
  const labels = pod.metadata?.labels ?? {};
  const choice = Object.prototype.hasOwnProperty.call(labels, 'sidecar.istio.io/inject')
    ? labels['sidecar.istio.io/inject']
    : pod.metadata?.annotations?.['sidecar.istio.io/inject'];
  return choice !== 'false';
}

export interface AdmissionReviewRequest {
  apiVersion?: string;
  kind?: string;
  request?: {
    uid?: string;
    namespace?: string;
    operation?: string;
    kind?: { kind?: string };
    object?: PodForInjection & { metadata?: { namespace?: string } };
  };
}

/** The AdmissionReview answer for one request (pure; the server only frames it). */
export function reviewResponse(review: AdmissionReviewRequest, params: SidecarParams): Record<string, unknown> {
  const req = review.request;
  const apiVersion = review.apiVersion ?? 'admission.k8s.io/v1';
  const base = { apiVersion, kind: 'AdmissionReview' };
  if (!req || typeof req.uid !== 'string') {
    return { ...base, response: { uid: '', allowed: false, status: { code: 400, message: 'AdmissionReview has no request' } } };
  }
  const pod = req.object;
  if (req.kind?.kind !== 'Pod' || req.operation !== 'CREATE' || !pod) {
    return { ...base, response: { uid: req.uid, allowed: true } };
  }
  const namespace = req.namespace ?? pod.metadata?.namespace ?? '';
  if (!injectionRequired(pod, namespace)) {
    return { ...base, response: { uid: req.uid, allowed: true } };
  }
  const patch = injectionPatch(pod, params);
  return {
    ...base,
    response: { uid: req.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') },
  };
}

/** The answer of the validation webhook: allowed (the twin does not re-implement Istio's validation). */
export function validationResponse(review: AdmissionReviewRequest): Record<string, unknown> {
  const base = { apiVersion: review.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview' };
  const uid = review.request?.uid;
  if (typeof uid !== 'string')
    return { ...base, response: { uid: '', allowed: false, status: { code: 400, message: 'AdmissionReview has no request' } } };
  return { ...base, response: { uid, allowed: true } };
}

export interface InjectorServer {
  /** `http://127.0.0.1:PORT`, what the istiod pods' endpoint annotation maps 15017 to. */
  url: string;
  port: number;
  injections: () => number;
  validations: () => number;
  close(): Promise<void>;
}

export async function startInjectorServer(
  params: SidecarParams,
  logger: Logger,
  host = '127.0.0.1',
  preferredPort = 0,
): Promise<InjectorServer> {
  let injections = 0;
  let validations = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || (path !== INJECTION_PATH && path !== VALIDATION_PATH)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let review: AdmissionReviewRequest;
      try {
        review = JSON.parse(Buffer.concat(chunks).toString('utf8')) as AdmissionReviewRequest;
      } catch {
        res.writeHead(400, { 'Content-Type': 'text/plain' }).end('could not decode body\n');
        return;
      }
      if (path === VALIDATION_PATH) {
        validations++;
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(validationResponse(review)));
        return;
      }
      const answer = reviewResponse(review, params);
      if ((answer.response as { patch?: string }).patch) {
        injections++;
        logger.debug({ revision: params.revision, namespace: review.request?.namespace }, 'injected sidecar');
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  const port = await listenPreferring(server, host, preferredPort);
  return {
    url: `http://${host}:${port}`,
    port,
    injections: () => injections,
    validations: () => validations,
    close: () => closeServer(server),
  };
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * Listens on `preferred` (a restored twin's previous port, so the endpoints its pods carry stay
 * right) and, when that port is taken or 0, on any free one. Returns the port.
 */
export async function listenPreferring(server: Server, host: string, preferred = 0): Promise<number> {
  const listen = (port: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  if (preferred > 0) {
    try {
      await listen(preferred);
      return (server.address() as AddressInfo).port;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  await listen(0);
  return (server.address() as AddressInfo).port;
}
