// The verbs, shared by the HTTP layer and the in-process controllers (which, like a real
// controller-manager, go through admission and validation but not through HTTP, faults or counters).
import { randomUUID } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import type { Admission } from './admission.js';
import { ApiError, Errors, FieldErrors, type Status } from './errors.js';
import { applyOwnership } from './field-manager.js';
import { matchesAll, parseLabelSelector } from './label-selector.js';
import { goJsonType, jsonPatch, mergePatch, strategicMerge } from './patch.js';
import { apiVersionOf, builtinResources, type ResourceDef, type ResourceRegistry } from './resources.js';
import { fieldsMatch, parseFieldSelector } from './selectors.js';
import type { Store, Stored } from './storage.js';
import { isPlainObject, type KubeObject, jsonClone } from './types.js';
import { defaultObject, validateObject } from './validation.js';

export const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

export interface ListOptions {
  labelSelector?: string | undefined;
  fieldSelector?: string | undefined;
}
export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: string;
  dryRun?: boolean;
}
export interface WriteOptions {
  dryRun?: boolean;
  fieldManager?: string | undefined;
  force?: boolean | undefined;
  /** Set by apply: the ownership to store. */ managedFields?: unknown[] | undefined;
}

function dryRunResult(o: KubeObject): Stored {
  return { obj: o, json: JSON.stringify(o), rv: Number(o.metadata.resourceVersion ?? 0) };
}

const PROTECTED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);
const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)];
  return s;
}

/** Everything except metadata and status: what metadata.generation tracks. */
function specPart(o: KubeObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return JSON.stringify(rest);
}

function sameContent(a: KubeObject, b: KubeObject): boolean {
  // A change of ownership alone is a write; a new timestamp on the same ownership is not.
  const owners = (o: KubeObject): unknown =>
    (o.metadata.managedFields as Array<{ manager?: string; operation?: string; fieldsV1?: unknown }> | undefined)?.map((e) => [
      e.manager,
      e.operation,
      e.fieldsV1,
    ]);
  const strip = (o: KubeObject): string =>
    JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined, managedFields: owners(o) } });
  return strip(a) === strip(b);
}

export class ApiCore {
  private nextServiceIp = 10;
  private nextNodePort = 30000;
  readonly now: () => string = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  constructor(
    readonly registry: ResourceRegistry,
    readonly store: Store,
    private readonly admission: Admission,
  ) {}

  private def(group: string, resource: string): ResourceDef {
    return this.registry.get(group, resource)!;
  }

  /** A copy of the object as served at `version`. */
  output(def: ResourceDef, version: string, o: KubeObject): KubeObject {
    const copy = jsonClone(o);
    copy.apiVersion = apiVersionOf(def, version);
    copy.kind = def.kind;
    return copy;
  }

  /** JSON of a stored object at `version`, reusing the stored serialization when it fits. */
  outputJson(def: ResourceDef, version: string, s: Stored): string {
    if (s.obj.apiVersion === apiVersionOf(def, version)) return s.json;
    return JSON.stringify({ ...s.obj, apiVersion: apiVersionOf(def, version) });
  }

  get(def: ResourceDef, namespace: string, name: string): Stored {
    const s = this.store.get(def, namespace, name);
    if (!s) throw Errors.notFound(def.group, def.resource, name);
    return s;
  }

  list(def: ResourceDef, namespace: string | undefined, opts: ListOptions = {}): Stored[] {
    let labelReqs;
    try {
      labelReqs = opts.labelSelector ? parseLabelSelector(opts.labelSelector) : [];
    } catch (e) {
      throw Errors.badRequest((e as Error).message);
    }
    const fieldReqs = opts.fieldSelector ? parseFieldSelector(def, opts.fieldSelector) : [];
    let items = this.store.list(def, namespace);
    if (labelReqs.length) items = items.filter((s) => matchesAll(labelReqs, s.obj.metadata.labels));
    if (fieldReqs.length) items = items.filter((s) => fieldsMatch(def, fieldReqs, s.obj));
    return items;
  }

  private requireNamespace(def: ResourceDef, namespace: string): void {
    if (!def.namespaced) return;
    if (!this.store.get(this.def('', 'namespaces'), '', namespace)) throw Errors.notFound('', 'namespaces', namespace);
  }

  /** Decoding checks: an object, with apiVersion/kind consistent with the endpoint. */
  private decode(def: ResourceDef, version: string, body: unknown): KubeObject {
    if (!isPlainObject(body)) throw Errors.badRequest('the body of the request was in an unknown format: expected a JSON object');
    const o = jsonClone(body) as KubeObject;
    const want = apiVersionOf(def, version);
    if (def.custom && (o.kind === undefined || o.kind === ''))
      throw Errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(body).slice(0, 200)}'`);
    if (o.kind !== undefined && o.kind !== def.kind)
      throw Errors.badRequest(`the kind in the data (${String(o.kind)}) does not match the expected kind (${def.kind})`);
    if (
      o.apiVersion !== undefined &&
      o.apiVersion !== want &&
      !def.versions.map((v) => apiVersionOf(def, v)).includes(String(o.apiVersion))
    ) {
      throw Errors.badRequest(`the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${want})`);
    }
    o.apiVersion = apiVersionOf(def, def.versions[0]!);
    o.kind = def.kind;
    if (!isPlainObject(o.metadata)) o.metadata = {};
    return o;
  }

  async create(def: ResourceDef, version: string, namespace: string, body: unknown, opts: WriteOptions = {}): Promise<Stored> {
    const o = this.decode(def, version, body);
    const m = o.metadata;
    if (def.namespaced) {
      if (m.namespace !== undefined && m.namespace !== '' && m.namespace !== namespace)
        throw Errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      m.namespace = namespace;
      this.requireNamespace(def, namespace);
    } else {
      delete m.namespace;
    }
    if (m.resourceVersion) throw Errors.internal('resourceVersion should not be set on objects to be created');
    m.uid = randomUUID();
    m.creationTimestamp = this.now();
    delete m.deletionTimestamp;
    delete m.managedFields;
    if (opts.managedFields) m.managedFields = opts.managedFields;
    if (def.tracksGeneration) m.generation = 1;
    else delete m.generation;
    if (def.subresources.includes('status')) delete o.status;
    defaultObject(def, o);
    let admitted = await this.admission.admit({ operation: 'CREATE', def, version, namespace, object: o, dryRun: opts.dryRun === true });
    // A webhook's result is decoded again (it may have changed apiVersion/kind or metadata).
    if (admitted !== o) admitted = this.decode(def, version, admitted);
    if (!admitted.metadata.name && admitted.metadata.generateName) {
      // Name generation happens after mutating admission, as in the registry's BeforeCreate.
      let name: string;
      do {
        name = `${admitted.metadata.generateName}${randomSuffix()}`;
      } while (this.store.get(def, namespace, name));
      admitted.metadata.name = name;
    }
    // Defaults apply again after mutating admission (as kube-apiserver does): what a webhook added
    // (an injected container) is stored with its defaults, so a later status update does not look
    // like a spec change.
    defaultObject(def, admitted);
    const errs = validateObject(def, admitted);
    if (errs.length) throw Errors.invalid(def.group, def.kind, admitted.metadata.name ?? '', errs);
    if (this.store.get(def, namespace, admitted.metadata.name!))
      throw Errors.alreadyExists(def.group, def.resource, admitted.metadata.name!);
    await this.admission.validate({ operation: 'CREATE', def, version, namespace, object: admitted, dryRun: opts.dryRun === true });
    this.beforeStore(def, admitted);
    if (opts.dryRun) return dryRunResult(admitted);
    const stored = this.store.put(def, admitted);
    this.afterStore(def, stored.obj);
    return stored;
  }

  /** PUT of the main resource or a subresource (status). */
  async update(
    def: ResourceDef,
    version: string,
    namespace: string,
    name: string,
    body: unknown,
    subresource?: string,
    opts: WriteOptions = {},
  ): Promise<Stored> {
    const incoming = this.decode(def, version, body);
    if (incoming.metadata.name !== undefined && incoming.metadata.name !== name)
      throw Errors.badRequest(`the name of the object (${incoming.metadata.name}) does not match the name on the URL (${name})`);
    if (
      def.namespaced &&
      incoming.metadata.namespace !== undefined &&
      incoming.metadata.namespace !== '' &&
      incoming.metadata.namespace !== namespace
    )
      throw Errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const old = this.get(def, namespace, name);
    const rv = incoming.metadata.resourceVersion;
    if (rv !== undefined && rv !== '' && rv !== old.obj.metadata.resourceVersion) throw Errors.conflict(def.group, def.resource, name);
    if ((rv === undefined || rv === '') && !def.unconditionalUpdate) {
      throw Errors.invalid(def.group, def.kind, name, [
        FieldErrors.invalid('metadata.resourceVersion', 0, 'must be specified for an update'),
      ]);
    }
    return this.commitUpdate(def, version, old, incoming, subresource, opts);
  }

  private async commitUpdate(
    def: ResourceDef,
    version: string,
    old: Stored,
    incoming: KubeObject,
    subresource?: string,
    opts: WriteOptions = {},
  ): Promise<Stored> {
    const prev = old.obj;
    let next: KubeObject;
    if (subresource === 'status') {
      next = { ...jsonClone(prev), status: incoming.status };
    } else {
      next = incoming;
      if (def.subresources.includes('status') && def.resource !== 'namespaces') next.status = jsonClone(prev.status);
      if (def.resource === 'namespaces') next.status = jsonClone(prev.status);
    }
    const m = next.metadata;
    const pm = prev.metadata;
    if (m.uid !== undefined && m.uid !== '' && m.uid !== pm.uid)
      throw Errors.invalid(def.group, def.kind, pm.name!, [FieldErrors.immutable('metadata.uid', m.uid)]);
    m.name = pm.name;
    if (def.namespaced) m.namespace = pm.namespace;
    else delete m.namespace;
    m.uid = pm.uid;
    m.creationTimestamp = pm.creationTimestamp;
    if (pm.deletionTimestamp) m.deletionTimestamp = pm.deletionTimestamp;
    else delete m.deletionTimestamp;
    if (pm.generation !== undefined) m.generation = pm.generation;
    defaultObject(def, next);
    if (def.tracksGeneration && subresource === undefined && specPart(next) !== specPart(prev)) m.generation = (pm.generation ?? 1) + 1;
    if (subresource === undefined) {
      const admitted = await this.admission.admit({
        operation: 'UPDATE',
        def,
        version,
        namespace: pm.namespace ?? '',
        object: next,
        oldObject: prev,
        dryRun: opts.dryRun === true,
      });
      if (admitted !== next) next = this.decode(def, version, admitted);
    }
    const errs = validateObject(def, next, { old: prev });
    if (errs.length) throw Errors.invalid(def.group, def.kind, pm.name!, errs);
    // As in kube-apiserver, validating webhooks see an update even when it turns out to change nothing.
    await this.admission.validate({
      operation: 'UPDATE',
      def,
      version,
      subresource,
      namespace: pm.namespace ?? '',
      object: next,
      oldObject: prev,
      dryRun: opts.dryRun === true,
    });
    // A write that changes nothing keeps the resourceVersion and emits no watch event.
    if (sameContent(next, prev)) return old;
    if (opts.dryRun) return dryRunResult(next);
    // An object being deleted goes away once its last finalizer is removed.
    if (next.metadata.deletionTimestamp && !(next.metadata.finalizers ?? []).length) {
      this.store.put(def, next, prev);
      return this.store.remove(def, pm.namespace ?? '', pm.name!)!;
    }
    this.beforeStore(def, next, prev);
    const stored = this.store.put(def, next, prev);
    this.afterStore(def, stored.obj);
    return stored;
  }

  async patch(
    def: ResourceDef,
    version: string,
    namespace: string,
    name: string,
    contentType: string,
    body: Buffer,
    subresource?: string,
    opts: WriteOptions = {},
  ): Promise<{ stored: Stored; created: boolean }> {
    const type = contentType.split(';')[0]!.trim().toLowerCase();
    const accepted = def.custom
      ? [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.apply]
      : [PATCH_TYPES.json, PATCH_TYPES.merge, PATCH_TYPES.apply, PATCH_TYPES.strategic];
    if (!(accepted as string[]).includes(type)) {
      // Built-in kinds: go-restful's route refuses the content type before the patch handler runs.
      if (!def.custom) throw new ApiError(415, 'UnsupportedMediaType', '415: Unsupported Media Type', {});
      throw Errors.unsupportedMediaType(type, accepted);
    }
    if (type === PATCH_TYPES.apply) return this.apply(def, version, namespace, name, body, subresource, opts);
    let patchDoc: unknown;
    try {
      patchDoc = JSON.parse(body.toString('utf8'));
    } catch {
      // validateAndTranscodePatch: json.Valid fails.
      throw Errors.badRequest('invalid JSON patch');
    }
    const old = this.get(def, namespace, name);
    const current = this.output(def, version, old.obj);
    let patched: unknown;
    if (type === PATCH_TYPES.json) patched = jsonPatch(current, patchDoc);
    else {
      if (!isPlainObject(patchDoc))
        throw Errors.badRequest(
          `error decoding patch: json: cannot unmarshal ${goJsonType(patchDoc)} into Go value of type map[string]interface {}`,
        );
      patched = type === PATCH_TYPES.merge ? mergePatch(current, patchDoc) : strategicMerge(current, patchDoc);
    }
    if (!isPlainObject(patched)) throw Errors.badRequest('the patched object is not a JSON object');
    const po = patched as KubeObject;
    if (!isPlainObject(po.metadata)) po.metadata = {};
    const rv = po.metadata.resourceVersion;
    if (rv !== undefined && rv !== old.obj.metadata.resourceVersion) throw Errors.conflict(def.group, def.resource, name);
    if (po.metadata.name !== name)
      throw Errors.badRequest(`the name of the object (${String(po.metadata.name)}) does not match the name on the URL (${name})`);
    const incoming = this.decode(def, version, po);
    return { stored: await this.commitUpdate(def, version, old, incoming, subresource, opts), created: false };
  }

  /** Server-side apply: field ownership by appliers (field-manager.ts); the applied config is merged (strategic for built-ins). */
  private async apply(
    def: ResourceDef,
    version: string,
    namespace: string,
    name: string,
    body: Buffer,
    subresource: string | undefined,
    opts: WriteOptions,
  ): Promise<{ stored: Stored; created: boolean }> {
    // ValidatePatchOptions: a 422 on PatchOptions, as kube-apiserver answers it.
    if (!opts.fieldManager)
      throw Errors.invalid('meta.k8s.io', 'PatchOptions', '', [FieldErrors.required('fieldManager', 'is required for apply patch')]);
    let cfg: unknown;
    try {
      cfg = parseYaml(body.toString('utf8'));
    } catch (e) {
      throw Errors.badRequest(`error decoding YAML: ${(e as Error).message}`);
    }
    if (!isPlainObject(cfg)) throw Errors.badRequest('error decoding YAML: the applied configuration must be an object');
    const applied = cfg as KubeObject;
    if (!applied.apiVersion || !applied.kind) throw Errors.badRequest('apiVersion and kind are required in an applied configuration');
    if (!isPlainObject(applied.metadata) || applied.metadata.name !== name)
      throw Errors.badRequest(`the name of the object (${String(applied.metadata?.name)}) does not match the name on the URL (${name})`);
    const existing = this.store.get(def, namespace, name);
    const ownership = applyOwnership(
      existing?.obj,
      applied,
      opts.fieldManager,
      opts.force === true,
      apiVersionOf(def, version),
      this.now(),
    );
    if (!existing) {
      if (subresource) throw Errors.notFound(def.group, def.resource, name);
      return {
        stored: await this.create(def, version, namespace, applied, { ...opts, managedFields: ownership.managedFields }),
        created: true,
      };
    }
    const current = this.output(def, version, existing.obj);
    const merged = (def.custom ? mergePatch(current, applied) : strategicMerge(current, applied)) as KubeObject;
    ownership.prune(merged);
    merged.metadata.resourceVersion = existing.obj.metadata.resourceVersion;
    merged.metadata.managedFields = ownership.managedFields;
    return {
      stored: await this.commitUpdate(def, version, existing, this.decode(def, version, merged), subresource, opts),
      created: false,
    };
  }

  /** Deletes (cascading to dependents unless orphaned); returns the body to send. */
  delete(def: ResourceDef, version: string, namespace: string, name: string, opts: DeleteOptions = {}): KubeObject | Status {
    const old = this.get(def, namespace, name);
    const pre = opts.preconditions ?? {};
    // The registry's deletion preconditions name the Kind, not the resource (seen on kube-apiserver).
    if (pre.uid && pre.uid !== old.obj.metadata.uid)
      throw Errors.conflictOnKind(
        def.group,
        def.kind,
        name,
        `the UID in the precondition (${pre.uid}) does not match the UID in record (${old.obj.metadata.uid ?? ''}). The object might have been deleted and then recreated`,
      );
    if (pre.resourceVersion && pre.resourceVersion !== old.obj.metadata.resourceVersion)
      throw Errors.conflictOnKind(
        def.group,
        def.kind,
        name,
        `the ResourceVersion in the precondition (${pre.resourceVersion}) does not match the ResourceVersion in record (${old.obj.metadata.resourceVersion ?? ''}). The object might have been modified`,
      );
    if (opts.dryRun) return this.output(def, version, old.obj);
    if (def.group === '' && def.resource === 'namespaces') {
      if (PROTECTED_NAMESPACES.has(name)) throw Errors.forbidden('', 'namespaces', name, 'this namespace may not be deleted');
      // Immediate: contents first, then the namespace; the reply shows it Terminating as a real one would.
      for (const d of this.registry.all())
        if (d.namespaced) for (const s of this.store.list(d, name)) this.store.remove(d, name, s.obj.metadata.name!);
      const last = this.store.remove(def, '', name)!;
      return this.output(def, version, {
        ...last.obj,
        metadata: { ...last.obj.metadata, deletionTimestamp: this.now() },
        status: { phase: 'Terminating' },
      });
    }
    if ((old.obj.metadata.finalizers ?? []).length && !old.obj.metadata.deletionTimestamp) {
      const marked = jsonClone(old.obj);
      marked.metadata.deletionTimestamp = this.now();
      const s = this.store.put(def, marked, old.obj);
      return this.output(def, version, s.obj);
    }
    if (old.obj.metadata.deletionTimestamp && (old.obj.metadata.finalizers ?? []).length) return this.output(def, version, old.obj);
    const removed = this.store.remove(def, namespace, name)!;
    this.cascade(def, removed.obj, opts.propagationPolicy === 'Orphan');
    this.afterDelete(def, removed.obj);
    if (def.deleteReturnsObject) return this.output(def, version, removed.obj);
    const details: Status['details'] = { name, kind: def.resource, uid: removed.obj.metadata.uid! };
    if (def.group) details.group = def.group;
    // As kube-apiserver writes it: no code on a Success.
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details } as unknown as Status;
  }

  /** A write by a trusted in-process component (kubelet, scheduler binding): no admission or validation. */
  writeTrusted(def: ResourceDef, next: KubeObject, prev: KubeObject): Stored | undefined {
    const cur = this.store.get(def, prev.metadata.namespace ?? '', prev.metadata.name!);
    if (!cur || cur.obj !== prev) return undefined;
    if (sameContent(next, prev)) return cur;
    return this.store.put(def, next, prev);
  }

  /**
   * Puts back an object from a snapshot exactly as it was stored: no defaulting, admission or
   * validation (a restored pod keeps its injected sidecar), its resourceVersion kept. CRDs start
   * being served again; the Service IP and node port allocators move past what is restored.
   */
  restoreObject(def: ResourceDef, o: KubeObject): Stored {
    const stored = this.store.restore(def, o);
    this.afterStore(def, stored.obj);
    if (def.group === '' && def.resource === 'services') {
      const spec = (o.spec ?? {}) as { clusterIP?: string; ports?: Array<{ nodePort?: number }> };
      const m = /^10\.96\.(\d+)\.(\d+)$/.exec(spec.clusterIP ?? '');
      if (m) this.nextServiceIp = Math.max(this.nextServiceIp, Number(m[1]) * 250 + Number(m[2]));
      for (const p of spec.ports ?? []) if (typeof p.nodePort === 'number') this.nextNodePort = Math.max(this.nextNodePort, p.nodePort + 1);
    }
    return stored;
  }

  /** Garbage collection of dependents (background propagation), or orphaning them. */
  private cascade(ownerDef: ResourceDef, owner: KubeObject, orphan: boolean): void {
    const uid = owner.metadata.uid;
    if (!ownerDef.namespaced || !uid) return;
    const ns = owner.metadata.namespace ?? '';
    for (const d of this.registry.all()) {
      if (!d.namespaced) continue;
      for (const s of this.store.list(d, ns)) {
        const refs = s.obj.metadata.ownerReferences ?? [];
        if (!refs.some((r) => r.uid === uid)) continue;
        if (orphan) {
          const copy = jsonClone(s.obj);
          copy.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
          if (!copy.metadata.ownerReferences.length) delete copy.metadata.ownerReferences;
          this.store.put(d, copy, s.obj);
        } else {
          const removed = this.store.remove(d, ns, s.obj.metadata.name!);
          if (removed) this.cascade(d, removed.obj, false);
        }
      }
    }
  }

  private beforeStore(def: ResourceDef, o: KubeObject, prev?: KubeObject): void {
    if (def.group === '' && def.resource === 'services') this.allocateService(o, prev);
  }

  private allocateService(o: KubeObject, prev?: KubeObject): void {
    const spec = (o.spec ??= {}) as Record<string, unknown>;
    const prevSpec = (prev?.spec ?? {}) as Record<string, unknown>;
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (spec.type !== 'ExternalName') {
      if (spec.clusterIP === undefined || spec.clusterIP === '') {
        spec.clusterIP = prevSpec.clusterIP ?? `10.96.${Math.floor(this.nextServiceIp / 250)}.${(this.nextServiceIp++ % 250) + 1}`;
      }
      spec.clusterIPs ??= [spec.clusterIP];
      spec.ipFamilies ??= ['IPv4'];
      spec.ipFamilyPolicy ??= 'SingleStack';
      spec.internalTrafficPolicy ??= 'Cluster';
    }
    const prevPorts = (prevSpec.ports ?? []) as Array<Record<string, unknown>>;
    for (const p of (spec.ports ?? []) as Array<Record<string, unknown>>) {
      p.protocol ??= 'TCP';
      p.targetPort ??= p.port;
      if ((spec.type === 'NodePort' || spec.type === 'LoadBalancer') && p.nodePort === undefined) {
        p.nodePort = prevPorts.find((q) => q.port === p.port)?.nodePort ?? this.nextNodePort++;
      }
    }
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
    if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;
    o.status ??= { loadBalancer: {} };
  }

  private afterStore(def: ResourceDef, o: KubeObject): void {
    if (def.group === 'apiextensions.k8s.io' && def.resource === 'customresourcedefinitions') this.registerCrd(o);
  }

  private afterDelete(def: ResourceDef, o: KubeObject): void {
    if (def.group === 'apiextensions.k8s.io' && def.resource === 'customresourcedefinitions') {
      const spec = o.spec as { group: string; names: { plural: string } };
      const d = this.registry.get(spec.group, spec.names.plural);
      if (d && d.custom && !BUILTIN_KEYS.has(`${spec.group}/${spec.names.plural}`)) this.registry.remove(spec.group, spec.names.plural);
    }
  }

  /** A CRD for a group/resource not built in starts being served (versions marked served). */
  private registerCrd(o: KubeObject): void {
    const spec = o.spec as {
      group: string;
      scope: string;
      names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[]; categories?: string[] };
      versions: Array<{ name: string; served?: boolean; storage?: boolean; subresources?: { status?: unknown } }>;
    };
    if (BUILTIN_KEYS.has(`${spec.group}/${spec.names.plural}`)) return;
    const served = spec.versions.filter((v) => v.served !== false);
    if (!served.length) return;
    const storage = served.find((v) => v.storage) ?? served[0]!;
    const versions = [storage.name, ...served.map((v) => v.name).filter((n) => n !== storage.name)];
    this.registry.add({
      group: spec.group,
      versions,
      preferredVersion: served[0]!.name,
      resource: spec.names.plural,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      kind: spec.names.kind,
      listKind: spec.names.listKind ?? `${spec.names.kind}List`,
      namespaced: spec.scope === 'Namespaced',
      shortNames: spec.names.shortNames ?? [],
      categories: spec.names.categories ?? [],
      subresources: storage.subresources?.status ? ['status'] : [],
      custom: true,
      tracksGeneration: true,
      deleteReturnsObject: true,
      unconditionalUpdate: false,
    });
  }
}

const BUILTIN_KEYS = new Set(builtinResources().map((d) => `${d.group}/${d.resource}`));

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}
