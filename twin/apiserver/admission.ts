// Admission webhook dispatch as kube-apiserver does it. Mutating: every webhook of every
// MutatingWebhookConfiguration, configurations in name order, whose rules, namespaceSelector and
// objectSelector match, is called with an admission.k8s.io/v1 AdmissionReview; the returned
// JSONPatch is applied before the next one (reinvocationPolicy IfNeeded is not honoured).
// Validating: after the object passed schema validation, every matching webhook of every
// ValidatingWebhookConfiguration is called (in name order here, in parallel in kube-apiserver:
// the outcome is the same); one denial or a failed call with failurePolicy Fail rejects the write.
import http from 'node:http';
import https from 'node:https';
import { randomUUID } from 'node:crypto';
import { labelSelectorMatches, type LabelSelector } from './label-selector.js';
import type { RequestCounters } from './counters.js';
import { ApiError, Errors } from './errors.js';
import { jsonPatch } from './patch.js';
import type { PodNetwork } from './podnetwork.js';
import type { ResourceDef, ResourceRegistry } from './resources.js';
import type { Store } from './storage.js';
import { isPlainObject, type KubeObject } from './types.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionAttributes {
  operation: Operation;
  def: ResourceDef;
  version: string;
  subresource?: string | undefined;
  namespace: string;
  object: KubeObject;
  oldObject?: KubeObject | undefined;
  dryRun?: boolean | undefined;
}

interface Rule {
  operations?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  scope?: string;
}
interface Webhook {
  name: string;
  clientConfig: { url?: string; caBundle?: string; service?: { namespace: string; name: string; port?: number; path?: string } };
  rules?: Rule[];
  failurePolicy?: 'Fail' | 'Ignore';
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  timeoutSeconds?: number;
}

const any = (list: string[] | undefined, v: string): boolean => (list ?? []).some((x) => x === '*' || x === v);

export function ruleMatches(rule: Rule, a: AdmissionAttributes): boolean {
  if (!any(rule.operations, a.operation) || !any(rule.apiGroups, a.def.group) || !any(rule.apiVersions, a.version)) return false;
  const res = a.subresource ? `${a.def.resource}/${a.subresource}` : a.def.resource;
  const resources = rule.resources ?? [];
  const resOk = resources.some(
    (r) =>
      r === res ||
      (r === '*' && !a.subresource) ||
      r === '*/*' ||
      (r === `${a.def.resource}/*` && a.subresource) ||
      (r === `*/${a.subresource ?? ''}` && a.subresource),
  );
  if (!resOk) return false;
  const scope = rule.scope ?? '*';
  if (scope === 'Namespaced' && !a.def.namespaced) return false;
  if (scope === 'Cluster' && a.def.namespaced) return false;
  return true;
}

export interface AdmissionDeps {
  store: Store;
  registry: ResourceRegistry;
  network: PodNetwork;
  counters: RequestCounters;
}

class CallError extends Error {}

export class Admission {
  constructor(private readonly deps: AdmissionDeps) {}

  private namespaceLabels(a: AdmissionAttributes): Record<string, string> | undefined {
    if (a.def.group === '' && a.def.resource === 'namespaces') return a.object.metadata.labels ?? {};
    if (!a.def.namespaced) return undefined;
    const ns = this.deps.store.get(this.deps.registry.get('', 'namespaces')!, '', a.namespace)?.obj;
    return ns?.metadata.labels ?? {};
  }

  private configurations(resource: 'mutatingwebhookconfigurations' | 'validatingwebhookconfigurations'): KubeObject[] {
    const def = this.deps.registry.get('admissionregistration.k8s.io', resource)!;
    return this.deps.store
      .list(def)
      .map((s) => s.obj)
      .sort((x, y) => (x.metadata.name! < y.metadata.name! ? -1 : 1));
  }

  private matches(w: Webhook, a: AdmissionAttributes, nsLabels: Record<string, string> | undefined): boolean {
    if (!(w.rules ?? []).some((r) => ruleMatches(r, a))) return false;
    // The namespaceSelector applies to namespaced objects (and to namespaces themselves).
    if (nsLabels !== undefined && !labelSelectorMatches(w.namespaceSelector ?? {}, nsLabels)) return false;
    return (
      labelSelectorMatches(w.objectSelector ?? {}, a.object.metadata.labels ?? {}) ||
      (a.oldObject !== undefined && labelSelectorMatches(w.objectSelector ?? {}, a.oldObject.metadata.labels ?? {}))
    );
  }

  /** Runs every matching mutating webhook in order; returns the mutated object or throws the rejection. */
  async admit(a: AdmissionAttributes): Promise<KubeObject> {
    const configs = this.configurations('mutatingwebhookconfigurations');
    if (configs.length === 0) return a.object;
    let object = a.object;
    const nsLabels = this.namespaceLabels(a);
    for (const mwc of configs) {
      for (const w of (mwc.webhooks ?? []) as Webhook[]) {
        if (!this.matches(w, { ...a, object }, nsLabels)) continue;
        object = await this.call(mwc.metadata.name!, w, { ...a, object }, true);
      }
    }
    return object;
  }

  /** Runs every matching validating webhook; throws the first rejection. */
  async validate(a: AdmissionAttributes): Promise<void> {
    const configs = this.configurations('validatingwebhookconfigurations');
    if (configs.length === 0) return;
    const nsLabels = this.namespaceLabels(a);
    for (const vwc of configs) {
      for (const w of (vwc.webhooks ?? []) as Webhook[]) {
        if (this.matches(w, a, nsLabels)) await this.call(vwc.metadata.name!, w, a, false);
      }
    }
  }

  private async call(configuration: string, w: Webhook, a: AdmissionAttributes, mutating: boolean): Promise<KubeObject> {
    const name = a.object.metadata.name ? a.object.metadata.name : `${a.object.metadata.generateName ?? ''}*`;
    const record = (outcome: 'patched' | 'allowed' | 'denied' | 'error-rejected' | 'error-ignored', message?: string): void =>
      this.deps.counters.recordWebhook({
        configuration,
        webhook: w.name,
        operation: a.operation,
        resource: a.def.resource,
        namespace: a.namespace,
        name,
        outcome,
        ...(message ? { message } : {}),
        at: new Date().toISOString(),
      });
    const timeoutSeconds = w.timeoutSeconds ?? 10;
    const uid = randomUUID();
    const gvk = { group: a.def.group, version: a.version, kind: a.def.kind };
    const gvr = { group: a.def.group, version: a.version, resource: a.def.resource };
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: gvk,
        resource: gvr,
        requestKind: gvk,
        requestResource: gvr,
        ...(a.subresource ? { subResource: a.subresource, requestSubResource: a.subresource } : {}),
        // AdmissionRequest's name and namespace are omitempty: no name before generateName is resolved.
        ...(a.object.metadata.name ? { name: a.object.metadata.name } : {}),
        ...(a.namespace ? { namespace: a.namespace } : {}),
        operation: a.operation,
        userInfo: { username: 'system:admin', groups: ['system:masters', 'system:authenticated'] },
        object: a.object,
        oldObject: a.oldObject ?? null,
        dryRun: a.dryRun === true,
        options: { kind: a.operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions', apiVersion: 'meta.k8s.io/v1' },
      },
    };
    let response: Record<string, unknown>;
    try {
      const target = this.target(w, timeoutSeconds);
      const body = await post(target.url, JSON.stringify(review), timeoutSeconds * 1000, target.ca, target.servername);
      const parsed: unknown = JSON.parse(body);
      const resp = isPlainObject(parsed) ? parsed.response : undefined;
      if (!isPlainObject(resp)) throw new CallError('received invalid webhook response: response is missing');
      if (resp.uid !== uid) throw new CallError(`expected response.uid="${uid}", got "${String(resp.uid)}"`);
      response = resp;
      void target;
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const full = `failed calling webhook "${w.name}": ${msg}`;
      if ((w.failurePolicy ?? 'Fail') === 'Ignore') {
        record('error-ignored', full);
        return a.object;
      }
      record('error-rejected', full);
      throw Errors.internal(full);
    }
    if (response.allowed !== true) {
      // webhookerrors.ToStatusErr: the webhook's own Status, its code raised to at least 400, its
      // message (else reason) after "admission webhook ... denied the request".
      const st = isPlainObject(response.status) ? response.status : {};
      const message = typeof st.message === 'string' ? st.message : '';
      const reason = typeof st.reason === 'string' ? st.reason : '';
      record('denied', message);
      const code = typeof st.code === 'number' && st.code >= 400 ? st.code : 400;
      const deniedBy = `admission webhook "${w.name}" denied the request`;
      const text = message ? `${deniedBy}: ${message}` : reason ? `${deniedBy}: ${reason}` : `${deniedBy} without explanation`;
      throw new ApiError(code, reason, text, isPlainObject(st.details) ? (st.details as never) : undefined);
    }
    if (!mutating || typeof response.patch !== 'string' || response.patch === '') {
      record('allowed');
      return a.object;
    }
    if (response.patchType !== 'JSONPatch') {
      record('error-rejected', `unsupported patchType ${String(response.patchType)}`);
      throw Errors.internal(
        `received invalid webhook response: unsupported patchType "${String(response.patchType)}" from webhook "${w.name}"`,
      );
    }
    try {
      const ops: unknown = JSON.parse(Buffer.from(response.patch, 'base64').toString('utf8'));
      const patched = jsonPatch(a.object, ops) as KubeObject;
      record('patched');
      return patched;
    } catch (e) {
      const msg = e instanceof ApiError && e.why ? e.why : e instanceof Error ? e.message : String(e);
      record('error-rejected', msg);
      throw Errors.internal(`JSON Patch from webhook "${w.name}" could not be applied: ${msg}`);
    }
  }

  private target(w: Webhook, timeoutSeconds: number): { url: string; ca?: string | undefined; servername?: string | undefined } {
    const ca = w.clientConfig.caBundle ? Buffer.from(w.clientConfig.caBundle, 'base64').toString('utf8') : undefined;
    if (w.clientConfig.url) {
      const u = new URL(w.clientConfig.url);
      u.searchParams.set('timeout', `${timeoutSeconds}s`);
      return { url: u.toString(), ca };
    }
    const svc = w.clientConfig.service!;
    const port = svc.port ?? 443;
    const path = svc.path ?? '/';
    const shown = `https://${svc.name}.${svc.namespace}.svc:${port}${path}?timeout=${timeoutSeconds}s`;
    const { backends, portFound, service } = this.deps.network.serviceBackends(svc.namespace, svc.name, port);
    if (!service) throw new CallError(`failed to call webhook: Post "${shown}": service "${svc.name}" not found`);
    if (!portFound) throw new CallError(`failed to call webhook: Post "${shown}": service port ${port} not found`);
    const usable = backends.filter((b) => b.address);
    if (usable.length === 0)
      throw new CallError(`failed to call webhook: Post "${shown}": no endpoints available for service "${svc.name}"`);
    const addr = usable[Math.floor(Math.random() * usable.length)]!.address!;
    return {
      url: `${addr.scheme}://${addr.host}:${addr.port}${path}?timeout=${timeoutSeconds}s`,
      ca,
      servername: `${svc.name}.${svc.namespace}.svc`,
    };
  }
}

function post(url: string, body: string, timeoutMs: number, ca?: string, servername?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.request(
      u,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
        ...(u.protocol === 'https:' ? { ca, servername } : {}),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300)
            reject(new CallError(`failed to call webhook: the server responded with status ${res.statusCode ?? 0}: ${text.slice(0, 200)}`));
          else resolve(text);
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new CallError(`failed to call webhook: Post "${url}": context deadline exceeded`)));
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        e instanceof CallError
          ? e
          : new CallError(
              `failed to call webhook: Post "${url}": ${e.code === 'ECONNREFUSED' ? `dial tcp ${u.host}: connect: connection refused` : e.message}`,
            ),
      ),
    );
    req.end(body);
  });
}
