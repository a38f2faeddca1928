// Defaulting and validation per kind, mirroring what kube-apiserver rejects (a strict subset of it):
// object names, labels, annotations, pod specs and templates, selectors, services, webhooks.
import {
  isRfc1123Label,
  isRfc1123Subdomain,
  labelValueProblems,
  qualifiedNameProblems,
  labelSelectorMatches,
  labelSelectorProblems,
  type LabelSelector,
} from './label-selector.js';
import { FieldErrors, type FieldError } from './errors.js';
import type { ResourceDef } from './resources.js';
import { isPlainObject, type KubeObject, jsonClone } from './types.js';

const SUBDOMAIN_MSG =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const LABEL_MSG =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1035_MSG =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

const isDns1035Label = (s: string): boolean => s.length <= 63 && /^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(s);
const isIanaSvcName = (s: string): boolean =>
  s.length <= 15 && /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--');
const isConfigMapKey = (s: string): boolean => s.length > 0 && s.length <= 253 && /^[-._a-zA-Z0-9]+$/.test(s) && s !== '.' && s !== '..';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (isPlainObject(v) ? v : undefined);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

// ---------------------------------------------------------------- names and metadata

export function validateName(def: ResourceDef, name: string, field = 'metadata.name'): FieldError[] {
  switch (def.resource) {
    case 'namespaces':
      return isRfc1123Label(name) ? [] : [FieldErrors.invalid(field, name, LABEL_MSG)];
    case 'services':
      return isDns1035Label(name) ? [] : [FieldErrors.invalid(field, name, DNS1035_MSG)];
    case 'events':
      return /[/%]/.test(name) || name === '.' || name === '..' ? [FieldErrors.invalid(field, name, "may not contain '/' or '%'")] : [];
    default:
      return isRfc1123Subdomain(name) ? [] : [FieldErrors.invalid(field, name, SUBDOMAIN_MSG)];
  }
}

export function validateLabels(labels: unknown, field: string): FieldError[] {
  if (labels === undefined || labels === null) return [];
  if (!isPlainObject(labels)) return [FieldErrors.invalid(field, labels, 'must be a map of string to string')];
  const errs: FieldError[] = [];
  // ValidateLabels: one error per problem of each key (IsQualifiedName) and value (IsValidLabelValue).
  for (const [k, v] of Object.entries(labels)) {
    for (const p of qualifiedNameProblems(k)) errs.push(FieldErrors.invalid(field, k, p));
    if (typeof v !== 'string') errs.push(FieldErrors.invalid(`${field}`, v, 'label values must be strings'));
    else for (const p of labelValueProblems(v)) errs.push(FieldErrors.invalid(field, v, p));
  }
  return errs;
}

function validateAnnotations(ann: unknown, field: string): FieldError[] {
  if (ann === undefined || ann === null) return [];
  if (!isPlainObject(ann)) return [FieldErrors.invalid(field, ann, 'must be a map of string to string')];
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(ann)) {
    // Annotation keys are qualified names with a lowercase prefix.
    for (const p of qualifiedNameProblems(k.toLowerCase())) errs.push(FieldErrors.invalid(field, k, p));
    if (typeof v !== 'string') errs.push(FieldErrors.invalid(field, v, 'annotation values must be strings'));
    size += k.length + (typeof v === 'string' ? v.length : 0);
  }
  if (size > 256 * 1024) errs.push(FieldErrors.tooLong(field, 256 * 1024));
  return errs;
}

export function validateMetadata(def: ResourceDef, o: KubeObject): FieldError[] {
  const m = o.metadata;
  const errs: FieldError[] = [];
  if (!m.name) errs.push(FieldErrors.required('metadata.name', 'name or generateName is required'));
  else errs.push(...validateName(def, m.name));
  errs.push(...validateLabels(m.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(m.annotations, 'metadata.annotations'));
  if (m.finalizers !== undefined && !Array.isArray(m.finalizers))
    errs.push(FieldErrors.invalid('metadata.finalizers', m.finalizers, 'must be a list'));
  return errs;
}

// ---------------------------------------------------------------- pods and templates

function validateContainers(list: unknown, field: string, volumes: Set<string>, required: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const items = arr(list);
  if (required && items.length === 0) errs.push(FieldErrors.required(field));
  const names = new Set<string>();
  items.forEach((c, i) => {
    const f = `${field}[${i}]`;
    const co = obj(c);
    if (!co) {
      errs.push(FieldErrors.invalid(f, c, 'must be an object'));
      return;
    }
    const name = co.name;
    if (typeof name !== 'string' || name === '') errs.push(FieldErrors.required(`${f}.name`));
    else if (!isRfc1123Label(name)) errs.push(FieldErrors.invalid(`${f}.name`, name, LABEL_MSG));
    else if (names.has(name)) errs.push(FieldErrors.duplicate(`${f}.name`, name));
    else names.add(name);
    if (typeof co.image !== 'string' || co.image.trim() === '') errs.push(FieldErrors.required(`${f}.image`));
    const portNames = new Set<string>();
    arr(co.ports).forEach((p, j) => {
      const po = obj(p) ?? {};
      const pf = `${f}.ports[${j}]`;
      const cp = po.containerPort;
      if (typeof cp !== 'number' || !Number.isInteger(cp) || cp < 1 || cp > 65535)
        errs.push(FieldErrors.invalid(`${pf}.containerPort`, cp ?? 0, 'must be between 1 and 65535, inclusive'));
      if (po.name !== undefined) {
        if (typeof po.name !== 'string' || !isIanaSvcName(po.name))
          errs.push(
            FieldErrors.invalid(
              `${pf}.name`,
              po.name,
              "must be no more than 15 characters and contain only lowercase alphanumeric characters or '-', with at least one letter",
            ),
          );
        else if (portNames.has(po.name)) errs.push(FieldErrors.duplicate(`${pf}.name`, po.name));
        else portNames.add(po.name);
      }
      if (po.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(String(po.protocol)))
        errs.push(FieldErrors.notSupported(`${pf}.protocol`, po.protocol, ['SCTP', 'TCP', 'UDP']));
    });
    arr(co.env).forEach((e, j) => {
      const eo = obj(e) ?? {};
      if (typeof eo.name !== 'string' || eo.name === '') errs.push(FieldErrors.required(`${f}.env[${j}].name`));
      else if (!/^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(eo.name))
        errs.push(
          FieldErrors.invalid(
            `${f}.env[${j}].name`,
            eo.name,
            "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
          ),
        );
    });
    arr(co.volumeMounts).forEach((vm, j) => {
      const vo = obj(vm) ?? {};
      if (typeof vo.name !== 'string' || !volumes.has(vo.name))
        errs.push({
          field: `${f}.volumeMounts[${j}].name`,
          reason: 'FieldValueNotFound',
          message: `Not found: ${JSON.stringify(vo.name ?? '')}`,
        });
      if (typeof vo.mountPath !== 'string' || vo.mountPath === '') errs.push(FieldErrors.required(`${f}.volumeMounts[${j}].mountPath`));
    });
  });
  return errs;
}

export function validatePodSpec(spec: unknown, field: string, allowedRestart?: string[]): FieldError[] {
  const s = obj(spec);
  if (!s) return [FieldErrors.required(field)];
  const errs: FieldError[] = [];
  const volumes = new Set<string>();
  arr(s.volumes).forEach((v, i) => {
    const name = obj(v)?.name;
    if (typeof name !== 'string' || !isRfc1123Label(name))
      errs.push(FieldErrors.invalid(`${field}.volumes[${i}].name`, name ?? '', LABEL_MSG));
    else if (volumes.has(name)) errs.push(FieldErrors.duplicate(`${field}.volumes[${i}].name`, name));
    else volumes.add(name);
  });
  errs.push(...validateContainers(s.containers, `${field}.containers`, volumes, true));
  errs.push(...validateContainers(s.initContainers, `${field}.initContainers`, volumes, false));
  const rp = s.restartPolicy;
  const allowed = allowedRestart ?? ['Always', 'OnFailure', 'Never'];
  if (rp !== undefined && !allowed.includes(String(rp))) errs.push(FieldErrors.notSupported(`${field}.restartPolicy`, rp, allowed));
  return errs;
}

function defaultContainers(list: unknown): void {
  for (const c of arr(list)) {
    const co = obj(c);
    if (!co) continue;
    const image = typeof co.image === 'string' ? co.image : '';
    const tag = image.includes('@') ? 'digest' : (image.split('/').pop() ?? '').split(':')[1];
    co.imagePullPolicy ??= tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
    co.terminationMessagePath ??= '/dev/termination-log';
    co.terminationMessagePolicy ??= 'File';
    co.resources ??= {};
    for (const p of arr(co.ports)) {
      const po = obj(p);
      if (po) po.protocol ??= 'TCP';
    }
  }
}

/** Pod spec defaults; `pod`: also what only a Pod gets (enableServiceLinks, the ServiceAccount admission's default), not a template. */
export function defaultPodSpec(spec: unknown, pod = false): void {
  const s = obj(spec);
  if (!s) return;
  s.restartPolicy ??= 'Always';
  s.dnsPolicy ??= 'ClusterFirst';
  s.schedulerName ??= 'default-scheduler';
  s.terminationGracePeriodSeconds ??= 30;
  s.securityContext ??= {};
  if (pod) {
    s.enableServiceLinks ??= true;
    if (s.serviceAccountName === undefined && s.serviceAccount === undefined) s.serviceAccountName = 'default';
    s.serviceAccount ??= s.serviceAccountName;
  }
  defaultContainers(s.containers);
  defaultContainers(s.initContainers);
}

function validateTemplate(spec: Obj, field: string, allowedRestart: string[]): FieldError[] {
  const errs: FieldError[] = [];
  const tmpl = obj(spec.template);
  if (!tmpl) return [FieldErrors.required(`${field}.template`)];
  const meta = obj(tmpl.metadata) ?? {};
  errs.push(...validateLabels(meta.labels, `${field}.template.metadata.labels`));
  errs.push(...validateAnnotations(meta.annotations, `${field}.template.metadata.annotations`));
  errs.push(...validatePodSpec(tmpl.spec, `${field}.template.spec`, allowedRestart));
  return errs;
}

function validateWorkloadSelector(spec: Obj, field: string): FieldError[] {
  const sel = spec.selector as LabelSelector | undefined;
  if (!obj(sel)) return [FieldErrors.required(`${field}.selector`)];
  const problems = labelSelectorProblems(sel!);
  if (problems.length) return problems.map((p) => FieldErrors.invalid(`${field}.selector`, sel, p));
  if (!sel!.matchLabels && !(sel!.matchExpressions ?? []).length)
    return [FieldErrors.invalid(`${field}.selector`, sel, 'empty selector is invalid for deployment')];
  const labels = obj(obj(obj(spec.template)?.metadata)?.labels) as Record<string, string> | undefined;
  if (!labelSelectorMatches(sel!, labels ?? {}))
    return [FieldErrors.invalid(`${field}.template.metadata.labels`, labels ?? {}, '`selector` does not match template `labels`')];
  return [];
}

// ---------------------------------------------------------------- per kind

export interface ValidationContext {
  old?: KubeObject | undefined;
}

export function defaultObject(def: ResourceDef, o: KubeObject): void {
  const spec = obj(o.spec);
  // omitempty maps: an empty one is not stored (kube-apiserver drops `data: {}`, `labels: {}`).
  for (const m of [o.metadata as Record<string, unknown>, o as Record<string, unknown>]) {
    for (const k of ['labels', 'annotations', 'data', 'binaryData', 'stringData']) {
      const v = m[k];
      if (isPlainObject(v) && Object.keys(v).length === 0) delete m[k];
    }
  }
  switch (`${def.group}/${def.resource}`) {
    case '/namespaces':
      o.spec = { finalizers: ['kubernetes'], ...(spec ?? {}) };
      o.status = { phase: 'Active', ...(obj(o.status) ?? {}) };
      o.metadata.labels = { ...(o.metadata.labels ?? {}), 'kubernetes.io/metadata.name': o.metadata.name ?? '' };
      break;
    case '/pods':
      defaultPodSpec(o.spec, true);
      o.status = { phase: 'Pending', qosClass: 'BestEffort', ...(obj(o.status) ?? {}) };
      break;
    case 'apps/deployments':
      if (spec) {
        spec.replicas ??= 1;
        spec.strategy ??= { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } };
        spec.revisionHistoryLimit ??= 10;
        spec.progressDeadlineSeconds ??= 600;
        defaultPodSpec(obj(spec.template)?.spec);
      }
      break;
    case 'apps/replicasets':
      if (spec) {
        spec.replicas ??= 1;
        defaultPodSpec(obj(spec.template)?.spec);
      }
      break;
    case 'apps/statefulsets':
      if (spec) {
        spec.replicas ??= 1;
        spec.podManagementPolicy ??= 'OrderedReady';
        spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
        spec.revisionHistoryLimit ??= 10;
        defaultPodSpec(obj(spec.template)?.spec);
      }
      break;
    case 'apps/daemonsets':
      if (spec) {
        spec.updateStrategy ??= { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
        spec.revisionHistoryLimit ??= 10;
        defaultPodSpec(obj(spec.template)?.spec);
      }
      break;
    case 'batch/jobs':
      if (spec) {
        spec.backoffLimit ??= 6;
        spec.completions ??= 1;
        spec.parallelism ??= 1;
        spec.completionMode ??= 'NonIndexed';
        spec.suspend ??= false;
        const uid = o.metadata.uid ?? '';
        const name = o.metadata.name ?? '';
        // The job controller's generated selector (manualSelector unset).
        if (spec.manualSelector !== true && !spec.selector) spec.selector = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
        const tmpl = obj(spec.template);
        if (tmpl && spec.manualSelector !== true) {
          const meta = (tmpl.metadata = obj(tmpl.metadata) ?? {}) as Obj;
          meta.labels = {
            ...(obj(meta.labels) ?? {}),
            'batch.kubernetes.io/controller-uid': uid,
            'batch.kubernetes.io/job-name': name,
            'controller-uid': uid,
            'job-name': name,
          };
        }
        defaultPodSpec(tmpl?.spec);
      }
      break;
    case 'admissionregistration.k8s.io/mutatingwebhookconfigurations':
      for (const w of arr(o.webhooks)) {
        const wo = obj(w);
        if (!wo) continue;
        wo.failurePolicy ??= 'Fail';
        wo.matchPolicy ??= 'Equivalent';
        wo.namespaceSelector ??= {};
        wo.objectSelector ??= {};
        wo.timeoutSeconds ??= 10;
        wo.reinvocationPolicy ??= 'Never';
        for (const r of arr(wo.rules)) {
          const ro = obj(r);
          if (ro) ro.scope ??= '*';
        }
        const svc = obj(obj(wo.clientConfig)?.service);
        if (svc) svc.port ??= 443;
      }
      break;
    default:
      break;
  }
}

export function validateObject(def: ResourceDef, o: KubeObject, ctx: ValidationContext = {}): FieldError[] {
  const errs = validateMetadata(def, o);
  const spec = obj(o.spec);
  const key = `${def.group}/${def.resource}`;
  switch (key) {
    case '/pods':
      errs.push(...validatePodSpec(o.spec, 'spec'));
      if (ctx.old) errs.push(...validatePodUpdate(o, ctx.old));
      break;
    case 'apps/deployments':
    case 'apps/replicasets':
    case 'apps/statefulsets':
    case 'apps/daemonsets': {
      if (!spec) {
        errs.push(FieldErrors.required('spec'));
        break;
      }
      errs.push(...validateWorkloadSelector(spec, 'spec'));
      errs.push(...validateTemplate(spec, 'spec', ['Always']));
      if (spec.replicas !== undefined && (typeof spec.replicas !== 'number' || spec.replicas < 0 || !Number.isInteger(spec.replicas)))
        errs.push(FieldErrors.invalid('spec.replicas', spec.replicas, 'must be greater than or equal to 0'));
      if (ctx.old && JSON.stringify(obj(ctx.old.spec)?.selector) !== JSON.stringify(spec.selector))
        errs.push(FieldErrors.immutable('spec.selector', spec.selector));
      break;
    }
    case 'batch/jobs': {
      if (!spec) {
        errs.push(FieldErrors.required('spec'));
        break;
      }
      errs.push(...validateTemplate(spec, 'spec', ['OnFailure', 'Never']));
      if (obj(obj(spec.template)?.spec)?.restartPolicy === undefined)
        errs.push(FieldErrors.notSupported('spec.template.spec.restartPolicy', 'Always', ['OnFailure', 'Never']));
      if (ctx.old && JSON.stringify(obj(ctx.old.spec)?.template) !== JSON.stringify(spec.template))
        errs.push(FieldErrors.immutable('spec.template', spec.template));
      break;
    }
    case '/services':
      errs.push(...validateService(o, ctx.old));
      break;
    case '/configmaps': {
      let size = 0;
      for (const field of ['data', 'binaryData'] as const) {
        const d = o[field];
        if (d === undefined || d === null) continue;
        if (!isPlainObject(d)) {
          errs.push(FieldErrors.invalid(field, d, 'must be a map'));
          continue;
        }
        for (const [k, v] of Object.entries(d)) {
          if (!isConfigMapKey(k))
            errs.push(
              FieldErrors.invalid(`${field}[${k}]`, k, "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"),
            );
          if (typeof v !== 'string') errs.push(FieldErrors.invalid(`${field}[${k}]`, v, 'must be a string'));
          size += k.length + String(v).length;
        }
      }
      if (size > 1024 * 1024) errs.push(FieldErrors.tooLong('data', 1024 * 1024));
      break;
    }
    case '/events':
      if (!obj(o.involvedObject)) errs.push(FieldErrors.required('involvedObject'));
      break;
    case 'admissionregistration.k8s.io/mutatingwebhookconfigurations':
      errs.push(...validateWebhooks(o));
      break;
    case 'apiextensions.k8s.io/customresourcedefinitions': {
      const group = spec?.group;
      const plural = obj(spec?.names)?.plural;
      if (typeof group !== 'string' || group === '') errs.push(FieldErrors.required('spec.group'));
      if (typeof plural !== 'string' || plural === '') errs.push(FieldErrors.required('spec.names.plural'));
      else if (o.metadata.name !== `${plural}.${String(group)}`)
        errs.push(FieldErrors.invalid('metadata.name', o.metadata.name, 'must be spec.names.plural+"."+spec.group'));
      if (typeof obj(spec?.names)?.kind !== 'string') errs.push(FieldErrors.required('spec.names.kind'));
      if (!['Namespaced', 'Cluster'].includes(String(spec?.scope)))
        errs.push(FieldErrors.notSupported('spec.scope', spec?.scope, ['Cluster', 'Namespaced']));
      if (arr(spec?.versions).length === 0) errs.push(FieldErrors.required('spec.versions'));
      break;
    }
    default:
      if (def.custom && o.spec !== undefined && !isPlainObject(o.spec))
        errs.push(FieldErrors.invalid('spec', o.spec, 'spec in body must be of type object'));
  }
  return errs;
}

function validatePodUpdate(o: KubeObject, old: KubeObject): FieldError[] {
  // Only container images, activeDeadlineSeconds and added tolerations may change on a pod.
  const strip = (spec: unknown): string => {
    const s = jsonClone(obj(spec) ?? {});
    for (const f of ['containers', 'initContainers'])
      for (const c of arr(s[f])) {
        const co = obj(c);
        if (co) delete co.image;
      }
    delete s.activeDeadlineSeconds;
    delete s.tolerations;
    return JSON.stringify(s);
  };
  if (strip(o.spec) !== strip(old.spec)) {
    return [
      FieldErrors.forbidden(
        'spec',
        'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      ),
    ];
  }
  return [];
}

function validateService(o: KubeObject, old?: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const spec = obj(o.spec) ?? {};
  const type = spec.type ?? 'ClusterIP';
  const types = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
  if (!types.includes(String(type))) errs.push(FieldErrors.notSupported('spec.type', type, types));
  const ports = arr(spec.ports);
  if (type !== 'ExternalName' && ports.length === 0 && spec.clusterIP !== 'None') errs.push(FieldErrors.required('spec.ports'));
  const names = new Set<string>();
  ports.forEach((p, i) => {
    const po = obj(p) ?? {};
    const f = `spec.ports[${i}]`;
    if (typeof po.port !== 'number' || po.port < 1 || po.port > 65535)
      errs.push(FieldErrors.invalid(`${f}.port`, po.port ?? 0, 'must be between 1 and 65535, inclusive'));
    if (ports.length > 1 && (typeof po.name !== 'string' || po.name === '')) errs.push(FieldErrors.required(`${f}.name`));
    if (typeof po.name === 'string' && po.name !== '') {
      if (!isRfc1123Label(po.name)) errs.push(FieldErrors.invalid(`${f}.name`, po.name, LABEL_MSG));
      if (names.has(po.name)) errs.push(FieldErrors.duplicate(`${f}.name`, po.name));
      names.add(po.name);
    }
    const tp = po.targetPort;
    if (typeof tp === 'number' && (tp < 1 || tp > 65535))
      errs.push(FieldErrors.invalid(`${f}.targetPort`, tp, 'must be between 1 and 65535, inclusive'));
    if (typeof tp === 'string' && !isIanaSvcName(tp))
      errs.push(FieldErrors.invalid(`${f}.targetPort`, tp, "must contain only lowercase alphanumeric characters or '-'"));
  });
  errs.push(...validateLabels(spec.selector, 'spec.selector'));
  if (old) {
    const oldIp = obj(old.spec)?.clusterIP;
    if (spec.clusterIP !== undefined && spec.clusterIP !== oldIp && obj(old.spec)?.type !== 'ExternalName' && type !== 'ExternalName')
      errs.push(FieldErrors.immutable('spec.clusterIP', spec.clusterIP));
  }
  return errs;
}

function validateWebhooks(o: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  const names = new Set<string>();
  arr(o.webhooks).forEach((w, i) => {
    const f = `webhooks[${i}]`;
    const wo = obj(w) ?? {};
    const name = wo.name;
    if (typeof name !== 'string' || name === '') errs.push(FieldErrors.required(`${f}.name`));
    else if (!isRfc1123Subdomain(name) || name.split('.').length < 3)
      errs.push(FieldErrors.invalid(`${f}.name`, name, 'should be a domain with at least three segments separated by dots'));
    else if (names.has(name)) errs.push(FieldErrors.duplicate(`${f}.name`, name));
    else names.add(name);
    const cc = obj(wo.clientConfig) ?? {};
    const hasUrl = typeof cc.url === 'string';
    const svc = obj(cc.service);
    if (hasUrl === Boolean(svc)) errs.push(FieldErrors.required(`${f}.clientConfig`, 'exactly one of url or service is required'));
    if (hasUrl) {
      try {
        new URL(cc.url as string);
      } catch {
        errs.push(FieldErrors.invalid(`${f}.clientConfig.url`, cc.url, 'must be a valid URL'));
      }
    }
    if (svc && (typeof svc.name !== 'string' || typeof svc.namespace !== 'string'))
      errs.push(FieldErrors.required(`${f}.clientConfig.service`, 'name and namespace are required'));
    if (!['None', 'NoneOnDryRun'].includes(String(wo.sideEffects)))
      errs.push(FieldErrors.notSupported(`${f}.sideEffects`, wo.sideEffects ?? '', ['None', 'NoneOnDryRun']));
    const versions = arr(wo.admissionReviewVersions);
    if (versions.length === 0) errs.push(FieldErrors.required(`${f}.admissionReviewVersions`, 'must specify one of v1, v1beta1'));
    else if (!versions.some((v) => v === 'v1' || v === 'v1beta1'))
      errs.push(FieldErrors.invalid(`${f}.admissionReviewVersions`, versions, 'must include at least one of v1, v1beta1'));
    if (!['Ignore', 'Fail'].includes(String(wo.failurePolicy)))
      errs.push(FieldErrors.notSupported(`${f}.failurePolicy`, wo.failurePolicy, ['Fail', 'Ignore']));
    const t = wo.timeoutSeconds;
    if (typeof t !== 'number' || t < 1 || t > 30)
      errs.push(FieldErrors.invalid(`${f}.timeoutSeconds`, t, 'the timeout value must be between 1 and 30 seconds'));
    for (const sel of ['namespaceSelector', 'objectSelector'] as const) {
      for (const p of labelSelectorProblems((obj(wo[sel]) ?? {}) as LabelSelector))
        errs.push(FieldErrors.invalid(`${f}.${sel}`, wo[sel], p));
    }
    arr(wo.rules).forEach((r, j) => {
      const ro = obj(r) ?? {};
      const ops = arr(ro.operations);
      if (ops.length === 0) errs.push(FieldErrors.required(`${f}.rules[${j}].operations`));
      for (const op of ops)
        if (!['*', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT'].includes(String(op)))
          errs.push(FieldErrors.notSupported(`${f}.rules[${j}].operations`, op, ['*', 'CONNECT', 'CREATE', 'DELETE', 'UPDATE']));
      for (const k of ['apiGroups', 'apiVersions', 'resources'] as const)
        if (arr(ro[k]).length === 0) errs.push(FieldErrors.required(`${f}.rules[${j}].${k}`));
    });
  });
  return errs;
}
