// A twin scenario: the cluster the twin simulates (control planes, gateways, namespaces and their
// workloads, Istio config, DNS records, timings, faults), as YAML validated with zod. Errors name the
// path in the file. See examples/twin/field-report.yaml for an annotated example.
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { z } from 'zod';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LOOPBACK_V4 = /^127\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)\.(25[0-5]|2[0-4]\d|1?\d?\d)$/;

const name = z.string().max(63).regex(DNS1123_LABEL, 'lower-case letters, digits and "-", starting and ending with a letter or digit');
const labels = z.record(
  z.string().max(317).regex(LABEL_KEY, 'a label key such as "app" or "istio.io/rev"'),
  z.string().max(63).regex(LABEL_VALUE, 'a label value: letters, digits, "-", "_", "."'),
);
/** 0 = pick a free port. */
const port = z.number().int().min(0).max(65535);
const loopback = z.string().regex(LOOPBACK_V4, 'a loopback IPv4 address (127.x.y.z): the twin only listens on loopback');
const selectorRequirement = z.strictObject({
  key: z.string().min(1),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string()).optional(),
});
const labelSelector = z.strictObject({ matchLabels: labels.optional(), matchExpressions: z.array(selectorRequirement).optional() });

export const OUTBOUND_MODES = ['ALLOW_ANY', 'REGISTRY_ONLY', 'ALLOW_ANY_DYNAMIC_DNS'] as const;

const controlPlane = z.strictObject({
  revision: z.string().min(1).max(63).regex(LABEL_VALUE, 'a revision such as "default" or "istio-1-16-5"'),
  namespace: name.describe("istiod's namespace"),
  /** The default revision: its MWC also has the istio-injection=enabled webhooks. */
  isDefault: z.boolean().default(false),
  version: z
    .string()
    .regex(/^\d+\.\d+/, 'an Istio version such as "1.16.5"')
    .default('1.16.5'),
  /** ENABLE_ENHANCED_RESOURCE_SCOPING; absent = the version's default (docs/istio-facts.md §3). */
  enhancedResourceScoping: z.boolean().optional(),
  discoverySelectors: z.array(labelSelector).default([]),
  outboundTrafficPolicy: z.enum(OUTBOUND_MODES).default('ALLOW_ANY'),
  /** Control planes with the same id share one root certificate. */
  rootCA: name.default('shared'),
  /** Revision tags (istio-revision-tag-<tag>[-<ns>] MWCs) pointing at this revision. */
  tags: z.array(name).default([]),
  replicas: z.number().int().min(1).max(5).default(1),
  /** This istiod's own reaction time to another writer's istio-ca-root-cert (else timings.caRewriteDelayMs). */
  caRewriteDelayMs: z.number().int().min(10).optional(),
});

const gateway = z.strictObject({
  name: name.describe('Deployment and Service name'),
  namespace: name,
  revision: z.string().min(1).describe('the control plane whose sidecar (and config) the gateway uses'),
  /** Pod labels; the Gateway objects' selectors match on these. */
  labels: labels.refine((l) => Object.keys(l).length > 0, 'at least one label selecting the gateway pods'),
  /** The gateway's external address (status.loadBalancer.ingress[0].ip); its own loopback IP. */
  address: loopback,
  port: port.default(0),
  replicas: z.number().int().min(1).max(5).default(1),
});

const workload = z.strictObject({
  kind: z.enum(['Deployment', 'StatefulSet', 'DaemonSet']).default('Deployment'),
  name,
  replicas: z.number().int().min(0).max(100).default(1),
  /** Extra pod template labels (app=<name> is always set). */
  labels: labels.default({}),
  /** A Service <name> selecting app=<name> on this port; false for none. */
  service: z.union([z.literal(false), z.strictObject({ name: name.optional(), port: port.default(8080) })]).default({ port: 8080 }),
});

const namespace = z.strictObject({
  name,
  labels: labels.default({}),
  workloads: z.array(workload).default([]),
});

const kubeObject = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name, namespace: name.optional() }),
});

const dnsRecord = z
  .strictObject({
    name: z
      .string()
      .min(1)
      .regex(/^[a-z0-9.-]+$/i, 'a DNS name'),
    address: loopback.optional(),
    /** `<namespace>/<name>` of a scenario gateway: the record points at its address. */
    gateway: z
      .string()
      .regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, '"<namespace>/<name>" of a gateway')
      .optional(),
    ttl: z.number().int().min(0).max(86_400).default(30),
  })
  .refine((r) => (r.address === undefined) !== (r.gateway === undefined), 'exactly one of address or gateway');

const staleFault = z.strictObject({
  /** Every sidecar in these namespaces stays STALE. */
  namespaces: z.array(name).default([]),
  /** `<namespace>/<pod>` */
  pods: z.array(z.string().regex(/^[a-z0-9-]+\/[a-z0-9.-]+$/)).default([]),
});

export const istioFaultsSchema = z.strictObject({
  /** The namespace controllers never write istio-ca-root-cert into these namespaces. */
  caNeverArrives: z.array(name).default([]),
  staleProxies: staleFault.default({ namespaces: [], pods: [] }),
  /** Push errors that keep increasing at this rate in an istiod's /metrics. */
  pushErrors: z
    .array(
      z.strictObject({
        revision: z.string().min(1),
        type: z.enum(['cds_senderr', 'eds_senderr', 'lds_senderr', 'rds_senderr']).default('cds_senderr'),
        perSecond: z.number().positive().max(1000).default(1),
      }),
    )
    .default([]),
  /**
   * Requests that fail with `status` at this rate, deterministically (rate 0.5 fails every 2nd
   * matching request): those reaching pods of `namespace` (the app answers the error), or those
   * through `gateway` "<ns>/<name>" (the gateway aborts them). With `revision`, only requests whose
   * destination pod's sidecar was injected by that revision: "errors rise once the namespace runs
   * on the new control plane".
   */
  requestErrors: z
    .array(
      z
        .strictObject({
          namespace: name.optional(),
          gateway: z
            .string()
            .regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, '"<namespace>/<name>" of a gateway')
            .optional(),
          revision: z.string().min(1).optional(),
          rate: z.number().gt(0).max(1),
          status: z.number().int().min(100).max(599).default(500),
        })
        .refine((e) => (e.namespace === undefined) !== (e.gateway === undefined), 'exactly one of namespace or gateway'),
    )
    .default([]),
});
export type IstioFaults = z.output<typeof istioFaultsSchema>;
export type RequestErrorFault = IstioFaults['requestErrors'][number];
/** Istio faults as written (defaults not yet applied), e.g. a requestErrors entry without status. */
export type IstioFaultsInput = z.input<typeof istioFaultsSchema>;

export const scenarioSchema = z
  .strictObject({
    apiVersion: z.literal('meshmove.dev/v1alpha1', { error: 'must be "meshmove.dev/v1alpha1"' }),
    kind: z.literal('TwinScenario', { error: 'must be "TwinScenario"' }),
    metadata: z.strictObject({ name, description: z.string().optional() }),
    ports: z.strictObject({ api: port.default(0), dns: port.default(0) }).default({ api: 0, dns: 0 }),
    timings: z
      .strictObject({
        podStartDelayMs: z.number().int().min(0).default(20),
        /** Each workload's pods start up to this much sooner or later, the same on every rollout (0: all alike). */
        podStartSpreadMs: z.number().int().min(0).default(0),
        rolloutPodDelayMs: z.number().int().min(0).default(50),
        /** How long a namespace controller waits before rewriting a ConfigMap another istiod changed (real istiods: within ~0.3 s). */
        caRewriteDelayMs: z.number().int().min(10).default(300),
      })
      .default({ podStartDelayMs: 20, podStartSpreadMs: 0, rolloutPodDelayMs: 50, caRewriteDelayMs: 300 }),
    /** true: every control plane shares one root; false: each has its own; absent: per control plane `rootCA`. */
    sameRootCA: z.boolean().optional(),
    controlPlanes: z.array(controlPlane).min(1, 'at least one control plane'),
    gateways: z.array(gateway).default([]),
    namespaces: z.array(namespace).default([]),
    /** Gateway, VirtualService and other objects applied as they are. */
    istioConfig: z.array(kubeObject).default([]),
    /** Any other objects (extra MutatingWebhookConfigurations, ConfigMaps, ...). */
    objects: z.array(kubeObject).default([]),
    dns: z
      .strictObject({
        /** Env var holding the webhook secret; unset → the demo secret (see DEMO_DNS_SECRET). */
        webhookSecretEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .default('MESHMOVE_DNS_SECRET'),
        records: z.array(dnsRecord).default([]),
      })
      .default({ webhookSecretEnv: 'MESHMOVE_DNS_SECRET', records: [] }),
    faults: z
      .strictObject({
        istio: istioFaultsSchema.default({
          caNeverArrives: [],
          staleProxies: { namespaces: [], pods: [] },
          pushErrors: [],
          requestErrors: [],
        }),
        /** Handed as-is to the API server's fault injector (error rates, stuck rollouts, ...). */
        api: z.record(z.string(), z.unknown()).optional(),
      })
      .default({ istio: { caNeverArrives: [], staleProxies: { namespaces: [], pods: [] }, pushErrors: [], requestErrors: [] } }),
  })
  .superRefine((s, ctx) => {
    const cps = new Set<string>();
    s.controlPlanes.forEach((cp, i) => {
      if (cps.has(cp.revision))
        ctx.addIssue({ code: 'custom', path: ['controlPlanes', i, 'revision'], message: `revision "${cp.revision}" is defined twice` });
      cps.add(cp.revision);
    });
    if (s.controlPlanes.filter((cp) => cp.isDefault).length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['controlPlanes'],
        message: 'at most one control plane may be the default revision (use a revision tag for the other)',
      });
    }
    const nsNames = new Set<string>();
    s.namespaces.forEach((n, i) => {
      if (nsNames.has(n.name))
        ctx.addIssue({ code: 'custom', path: ['namespaces', i, 'name'], message: `namespace "${n.name}" is listed twice` });
      nsNames.add(n.name);
      const wl = new Set<string>();
      n.workloads.forEach((w, j) => {
        if (wl.has(w.name))
          ctx.addIssue({
            code: 'custom',
            path: ['namespaces', i, 'workloads', j, 'name'],
            message: `workload "${w.name}" is listed twice in "${n.name}"`,
          });
        wl.add(w.name);
      });
    });
    const addresses = new Map<string, number>();
    const gwIds = new Set<string>();
    s.gateways.forEach((g, i) => {
      if (!cps.has(g.revision))
        ctx.addIssue({ code: 'custom', path: ['gateways', i, 'revision'], message: `no control plane has revision "${g.revision}"` });
      const key = `${g.address}:${g.port}`;
      if (g.port !== 0 && addresses.has(key))
        ctx.addIssue({ code: 'custom', path: ['gateways', i, 'address'], message: `${key} is used by another gateway` });
      addresses.set(key, i);
      gwIds.add(`${g.namespace}/${g.name}`);
    });
    s.dns.records.forEach((r, i) => {
      if (r.gateway !== undefined && !gwIds.has(r.gateway))
        ctx.addIssue({ code: 'custom', path: ['dns', 'records', i, 'gateway'], message: `no gateway "${r.gateway}" in this scenario` });
    });
    s.faults.istio.pushErrors.forEach((p, i) => {
      if (!cps.has(p.revision))
        ctx.addIssue({
          code: 'custom',
          path: ['faults', 'istio', 'pushErrors', i, 'revision'],
          message: `no control plane has revision "${p.revision}"`,
        });
    });
    s.faults.istio.requestErrors.forEach((e, i) => {
      if (e.gateway !== undefined && !gwIds.has(e.gateway))
        ctx.addIssue({
          code: 'custom',
          path: ['faults', 'istio', 'requestErrors', i, 'gateway'],
          message: `no gateway "${e.gateway}" in this scenario`,
        });
    });
  });

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type Scenario = z.output<typeof scenarioSchema>;
export type ControlPlaneSpec = Scenario['controlPlanes'][number];
export type GatewaySpec = Scenario['gateways'][number];
export type NamespaceSpec = Scenario['namespaces'][number];
export type WorkloadSpec = NamespaceSpec['workloads'][number];
export type DnsRecordSpec = Scenario['dns']['records'][number];

/** A scenario that does not validate: every problem with its path in the file. */
export class ScenarioError extends Error {
  constructor(
    readonly source: string,
    readonly problems: Array<{ path: string; message: string }>,
  ) {
    super(`${source}: invalid twin scenario:\n${problems.map((p) => `  ${p.path || '(root)'}: ${p.message}`).join('\n')}`);
    this.name = 'ScenarioError';
  }
}

function pathString(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`)).join('');
}

export function parseScenario(value: unknown, source = 'scenario'): Scenario {
  const r = scenarioSchema.safeParse(value);
  if (!r.success)
    throw new ScenarioError(
      source,
      r.error.issues.map((i) => ({ path: pathString(i.path), message: i.message })),
    );
  return r.data;
}

export function parseScenarioYaml(text: string, source = 'scenario'): Scenario {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ScenarioError(source, [{ path: '', message: `not valid YAML: ${(err as Error).message}` }]);
  }
  return parseScenario(doc, source);
}

export async function loadScenario(path: string): Promise<Scenario> {
  return parseScenarioYaml(await readFile(path, 'utf8'), path);
}

/** Root id per revision after applying the `sameRootCA` switch. */
export function rootCaIds(s: Pick<Scenario, 'sameRootCA' | 'controlPlanes'>): Map<string, string> {
  return new Map(
    s.controlPlanes.map((cp) => [
      cp.revision,
      s.sameRootCA === true ? 'shared' : s.sameRootCA === false ? `own-${cp.revision}` : cp.rootCA,
    ]),
  );
}
