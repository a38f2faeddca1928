// The migration plan: what the operator writes (YAML or JSON) and what the workflow receives after
// validation. The workflow only ever sees the normalized form (durations in milliseconds, defaults
// filled in), so its input is plain JSON and replays the same forever.
import { z } from 'zod';
import { isDns1123Label, isValidLabelKey, isValidLabelValue } from '../mesh/k8s-names.js';
import { parsePublicKey } from '../workflows/identity/sshsig.js';
import { IN_PLACE, NO_DNS } from './model.js';

// What the plan means, without zod (the workflows load it): kept importable from here.
export {
  IN_PLACE,
  NO_DNS,
  backupTarget,
  describeSelect,
  hasSelectWaves,
  plannedNamespaces,
  relabelFor,
  resolvedPlan,
  type WaveResolution,
} from './model.js';

const namespaceName = z
  .string()
  .max(63, 'a namespace name has at most 63 characters')
  .refine(isDns1123Label, 'a namespace name: lower-case letters, digits and "-", starting and ending with a letter or digit');

// Where backups go: a directory of the worker's machine (one machine), or ConfigMaps in a namespace
// of the cluster, which every worker of the task queue can read (activities/backup/cluster-store.ts).
const backupSchema = z
  .strictObject({
    location: z.string().min(1, 'a directory for backups, e.g. ./backups').optional(),
    cluster: z
      .strictObject({ namespace: namespaceName.describe('an existing namespace for the backup ConfigMaps, e.g. meshmove-backups') })
      .optional(),
  })
  .superRefine((b, ctx) => {
    if (b.location === undefined && b.cluster === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          'where backups go: location (a directory, e.g. ./backups, for a worker on one machine) or cluster.namespace (ConfigMaps in an existing namespace, e.g. meshmove-backups, that every worker can read)',
      });
    }
    if (b.location !== undefined && b.cluster !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['cluster'],
        message: 'backups go to one place: remove either location (a directory) or cluster (ConfigMaps in the cluster)',
      });
    }
  });

const labelKey = z.string().max(317).refine(isValidLabelKey, 'a label key such as "usergroup" or "istio.io/rev"');
const labelValue = z
  .string()
  .max(63, 'a label value has at most 63 characters')
  .refine(isValidLabelValue, 'a label value: letters, digits, "-", "_", ".", starting and ending with a letter or digit');
const labels = z.record(labelKey, labelValue);

const revision = labelValue.min(1, 'a revision name such as "istio-1-16-5" (the value of istio.io/rev)');

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration written as "30s", "5m", "24h", "1d" or a number of seconds; normalized to milliseconds. */
export const duration = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v * 1000);
  const m = DURATION.exec(v.trim());
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `a duration such as "30s", "5m" or "24h" (got "${v}")` });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
});

const httpUrl = z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' });

const gatewayRef = z.strictObject({
  namespace: namespaceName,
  service: namespaceName.describe('the gateway Service name'),
  deployment: namespaceName.optional().describe('the gateway Deployment; defaults to the Service name'),
  selector: labels.refine((l) => Object.keys(l).length > 0, 'at least one label that selects the gateway pods'),
});

// A glob over namespace names: `*` any run of characters, `?` one character.
const NAME_GLOB = /^[a-z0-9*?]([-a-z0-9*?]*[a-z0-9*?])?$/;
const nameGlob = z
  .string()
  .max(63, 'a name pattern has at most 63 characters')
  .regex(NAME_GLOB, 'a namespace name or a pattern with "*" (any characters) and "?" (one character), e.g. "shop-*"');
const PERCENT = /^(\d{1,3})%$/;

const selectorExpression = z
  .strictObject({
    key: labelKey,
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist'], { error: 'one of In, NotIn, Exists, DoesNotExist' }),
    values: z.array(labelValue).optional(),
  })
  .superRefine((e, ctx) => {
    const n = e.values?.length ?? 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0)
      ctx.addIssue({ code: 'custom', path: ['values'], message: `at least one value with operator ${e.operator}` });
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0)
      ctx.addIssue({ code: 'custom', path: ['values'], message: `no values with operator ${e.operator}` });
  });

/**
 * A wave chosen from the cluster instead of by name. Every criterion given must hold (AND); the
 * list is resolved once, before the start gate, and shown there. The control-plane namespaces, the
 * namespaces named by any wave and those taken by an earlier wave are never selected.
 */
const waveSelect = z
  .strictObject({
    matchLabels: labels.optional().describe('labels the namespace must have, e.g. {team: shop}'),
    matchExpressions: z.array(selectorExpression).optional(),
    injectedBy: z.literal('source', { error: 'only "source": the namespaces whose new pods the source revision injects' }).optional(),
    names: z
      .array(nameGlob)
      .min(1, 'at least one name or pattern')
      .optional()
      .describe('names or patterns; a namespace matching any of them'),
    exclude: z.array(nameGlob).optional().describe('names or patterns never taken by this wave'),
    limit: z
      .union([
        z.number().int('a whole number of namespaces').min(1, 'at least 1 namespace'),
        z
          .string()
          .regex(PERCENT, 'a count such as 5, or a percentage such as "10%"')
          .refine((p) => {
            const n = Number(PERCENT.exec(p)?.[1]);
            return n >= 1 && n <= 100;
          }, 'a percentage between "1%" and "100%"'),
      ])
      .optional()
      .describe('at most this many (or this share, rounded up) of the namespaces matched, first by name'),
  })
  .refine((s) => s.matchLabels !== undefined || s.matchExpressions !== undefined || s.injectedBy !== undefined || s.names !== undefined, {
    message: 'say which namespaces: give matchLabels, matchExpressions, injectedBy or names (select alone would take every namespace)',
  });

const wave = z
  .strictObject({
    name: z.string().min(1).max(63).refine(isDns1123Label, 'a short name: lower-case letters, digits and "-"'),
    concurrency: z.number().int('a whole number').min(1, 'at least 1 namespace at a time').max(50, 'at most 50 at once'),
    prepareAhead: z
      .number()
      .int('a whole number')
      .min(0, '0 (the default) or more')
      .max(50, 'at most 50')
      .optional()
      .describe(
        'namespaces of this wave relabelled and CA-checked while `concurrency` others restart; each restarts when a slot frees (absent or 0: none)',
      ),
    namespaces: z.array(namespaceName).min(1, 'at least one namespace').optional(),
    select: waveSelect.optional(),
  })
  .superRefine((w, ctx) => {
    if (w.namespaces === undefined && w.select === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['namespaces'],
        message: 'required: the namespaces of this wave, or "select" to choose them by label, injection or name pattern',
      });
    if (w.namespaces !== undefined && w.select !== undefined)
      ctx.addIssue({ code: 'custom', path: ['select'], message: 'give either "namespaces" or "select", not both' });
  })
  // A select wave's `namespaces` stays empty until the run resolves it (resolvedPlan).
  .transform(({ select, ...w }) => ({ ...w, namespaces: w.namespaces ?? [], ...(select ? { select } : {}) }));

const crossNamespaceProbe = z.strictObject({
  from: namespaceName.describe('namespace the call is made from'),
  url: httpUrl.describe('the URL called, usually http://SERVICE.NAMESPACE.svc.cluster.local:PORT/PATH'),
  expectStatus: z.number().int().min(100).max(599).default(200),
});

const gatewayProbe = z.strictObject({
  host: z
    .string()
    .min(1)
    .regex(/^[a-z0-9.-]+$/i, 'a host name such as "shop.y7test.com"'),
  path: z.string().startsWith('/', 'a path starting with "/"').default('/'),
  namespace: namespaceName.describe('the namespace whose workloads serve this host'),
  expectStatus: z.number().int().min(100).max(599).default(200),
});

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'the NAME of an environment variable of the worker');

/**
 * Traffic analysis against Prometheus (the field report's metric checks), as Argo Rollouts' and
 * Flagger's analyses do: PromQL over istio_requests_total is evaluated by Prometheus; meshmove only
 * compares the numbers. An unreachable Prometheus or an empty answer fails the check, never passes it.
 */
const analysis = z.strictObject({
  prometheus: z.strictObject({
    url: httpUrl.describe('the Prometheus that scrapes the sidecars and gateways, e.g. http://prometheus.istio-system:9090'),
    // The header itself never goes into the plan (the plan is workflow input, stored in history).
    authHeaderEnv: envName
      .optional()
      .describe('environment variable of the worker holding the whole Authorization header value, e.g. "Bearer ..."'),
    timeout: duration.prefault(10),
  }),
  /** How often a waiting check asks Prometheus again. */
  interval: duration.prefault(10),
  /** Error and request rate of each planned namespace and both gateways, taken once before the first relabel. */
  baseline: z.strictObject({ window: duration.prefault(300) }).prefault({}),
  /** After a namespace's restart: its error rate over `window` may exceed its baseline by at most `maxErrorRateIncrease` (0.01 = one percentage point). */
  namespace: z
    .strictObject({
      window: duration.prefault(60),
      maxErrorRateIncrease: z
        .number()
        .min(0, 'a fraction between 0 and 1, e.g. 0.01')
        .max(1, 'a fraction between 0 and 1, e.g. 0.01')
        .default(0.01),
    })
    .prefault({}),
  /** After the DNS TTL: the new gateway carries requests and the old one carries fewer than at the baseline, within `timeout`. */
  cutover: z.strictObject({ window: duration.prefault(60), timeout: duration.prefault(600) }).prefault({}),
  /** Before the decommission gate opens: the old gateway's request rate stays 0 for `window`; after `timeout` the step fails and the run waits for a decision. */
  drain: z.strictObject({ window: duration.prefault(120), timeout: duration.prefault(3600) }).prefault({}),
});

const dnsProvider = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('manual') }),
  z.strictObject({
    type: z.literal('webhook'),
    url: httpUrl,
    // The secret itself never goes into the plan (the plan is workflow input, stored in history).
    secretEnv: envName.describe('the environment variable of the worker holding the shared secret'),
  }),
]);

/** What a webhook is told about: a gate opened, a failed step waits for a decision, the run ended. */
export const NOTIFY_EVENTS = ['gate-opened', 'decision-needed', 'run-ended'] as const;
export type NotifyEventKind = (typeof NOTIFY_EVENTS)[number];

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** https, or http to this machine only (a local receiver, a test): the payload carries run details. */
const webhookUrl = z.string().superRefine((v, ctx) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `an https:// URL such as "https://hooks.slack.com/services/..." (got "${v}")` });
    return;
  }
  if (u.protocol === 'https:') return;
  if (u.protocol === 'http:' && (LOOPBACK_HOSTS.has(u.hostname) || /^127\./.test(u.hostname))) return;
  ctx.addIssue({
    code: 'custom',
    message:
      u.protocol === 'http:'
        ? `http:// only to this machine (localhost, 127.0.0.1, [::1]); use https:// for ${u.hostname}`
        : `an https:// URL (got a ${u.protocol} URL)`,
  });
});

const notifyWebhook = z.strictObject({
  name: z.string().min(1).max(63).refine(isDns1123Label, 'a name for the webhook: lower-case letters, digits and "-", e.g. "ops-slack"'),
  url: webhookUrl,
  format: z
    .enum(['slack', 'json'], { error: '"slack" (an incoming-webhook payload: text and blocks) or "json" (the event as JSON)' })
    .default('json'),
  // The secret itself never goes into the plan (the plan is workflow input, stored in history).
  secretEnv: envName.describe('the environment variable of the worker holding the HMAC secret the requests are signed with'),
  events: z
    .array(z.enum(NOTIFY_EVENTS, { error: `one of ${NOTIFY_EVENTS.join(', ')}` }))
    .min(1, `at least one event (${NOTIFY_EVENTS.join(', ')}), or leave "events" out for all of them`)
    .optional()
    .describe('which events this webhook receives; all when absent'),
});
export type NotifyWebhook = z.output<typeof notifyWebhook>;

/** notify: signed webhooks told when a person is needed (a gate, a failed step) and when the run ends. */
const notify = z.strictObject({
  webhooks: z
    .array(notifyWebhook)
    .min(1, 'at least one webhook, or leave "notify" out')
    .superRefine((hooks, ctx) => {
      const seen = new Set<string>();
      hooks.forEach((h, i) => {
        if (seen.has(h.name))
          ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${h.name}" names two webhooks: give each its own name` });
        seen.add(h.name);
      });
    }),
});

const hostPort = z
  .string()
  .regex(/^[^\s:]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/, 'a resolver address such as "10.0.0.2" or "127.0.0.1:5353"');

const publicKeyLine = z.string().superRefine((line, ctx) => {
  try {
    parsePublicKey(line);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a usable SSH public key: ${(err as Error).message}` });
  }
});

/**
 * A person who may decide: a name (with `identity: unverified`), or a name with SSH public keys,
 * inline or read from a git allowed_signers file when the plan is loaded (so the plan's digest and
 * the workflow's input hold the keys themselves). Normalized to `{name, keys, gates?}`.
 */
const approver = z
  .union([
    z.string().min(1),
    z.strictObject({
      name: z
        .string()
        .min(1)
        .regex(/^[^\s,]+$/, 'a name without spaces or commas'),
      keys: z.array(publicKeyLine).default([]),
      gates: z
        .array(z.string().min(1))
        .min(1)
        .optional()
        .describe('the gates this approver may decide (namespace = every namespace gate); all when absent'),
    }),
  ])
  .transform((a) => (typeof a === 'string' ? { name: a, keys: [] as string[] } : a));

export interface CrossFieldIssue {
  path: (string | number)[];
  message: string;
}

const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/**
 * Checks across fields (a namespace planned twice, probes from namespaces not planned, gates nobody
 * may approve...). Written defensively so that it also runs on a plan that failed validation
 * elsewhere: the person gets every problem at once.
 */
export function crossFieldIssues(input: unknown): CrossFieldIssue[] {
  const issues: CrossFieldIssue[] = [];
  const plan = obj(input);
  const waves = arr(plan.waves).map(obj);
  const seen = new Map<string, string>();
  // Select waves are resolved against the cluster at run time: checks that need the whole list wait for it.
  const selects = waves.some((w) => w.select !== undefined);
  waves.forEach((w, wi) =>
    arr(w.namespaces).forEach((ns, ni) => {
      if (typeof ns !== 'string') return;
      const other = seen.get(ns);
      if (other !== undefined)
        issues.push({
          path: ['waves', wi, 'namespaces', ni],
          message: `namespace "${ns}" is already planned at ${other}; each namespace moves once`,
        });
      else seen.set(ns, `waves[${wi}].namespaces[${ni}]`);
    }),
  );
  const waveNames = new Set<unknown>();
  waves.forEach((w, wi) => {
    if (typeof w.name === 'string' && waveNames.has(w.name))
      issues.push({ path: ['waves', wi, 'name'], message: `wave name "${w.name}" is used twice` });
    waveNames.add(w.name);
  });
  const source = obj(plan.source);
  const target = obj(plan.target);
  if (source.revision !== undefined && source.revision === target.revision && source.istiodNamespace === target.istiodNamespace) {
    issues.push({ path: ['target', 'revision'], message: 'the target control plane is the source one; give the target its own revision' });
  }
  if (target.tag !== undefined && (target.tag === target.revision || target.tag === source.revision || target.tag === 'default')) {
    issues.push({
      path: ['target', 'tag'],
      message:
        target.tag === 'default'
          ? 'the "default" tag also selects istio-injection=enabled and the default validator: move it with istioctl tag set default, not in a plan'
          : 'a revision tag is a name of its own, neither the source nor the target revision',
    });
  }
  for (const sys of new Set([source.istiodNamespace, target.istiodNamespace])) {
    if (typeof sys === 'string' && seen.has(sys))
      issues.push({ path: ['waves'], message: `"${sys}" is a control-plane namespace; do not migrate it as a workload namespace` });
  }
  const gates = obj(plan.gates);
  // Defaults: start, dnsCutover, gatewayMove and decommission gates are on unless turned off.
  const anyGate =
    gates.start !== false ||
    gates.namespace === true ||
    gates.dnsCutover !== false ||
    gates.gatewayMove !== false ||
    gates.decommission !== false;
  const approvers = Array.isArray(plan.approvers) ? plan.approvers : [];
  if (anyGate && Array.isArray(plan.approvers) && approvers.length === 0) {
    issues.push({
      path: ['approvers'],
      message: 'gates are required but nobody may approve them: list the approvers (user names as given by --by or $MESHMOVE_USER)',
    });
  }
  if (plan.approvers === undefined && anyGate) {
    issues.push({
      path: ['approvers'],
      message: 'gates are required but nobody may approve them: list the approvers (user names as given by --by or $MESHMOVE_USER)',
    });
  }
  if (plan.identity !== 'unverified') {
    // Signed decisions (the default): each approver is a key, or several.
    approvers.forEach((a, i) => {
      const o = obj(a);
      const keys = arr(o.keys);
      if (typeof a === 'string' || (keys.length === 0 && o.allowedSigners === undefined)) {
        issues.push({
          path: ['approvers', i],
          message: `approver "${typeof a === 'string' ? a : String(o.name ?? '')}" has no key: give "keys" (SSH public keys) or "allowedSigners" (a git allowed_signers file), or set "identity: unverified" (names only, not signed)`,
        });
      }
    });
  }
  if (plan.fourEyes !== false && anyGate && approvers.length === 1) {
    issues.push({
      path: ['approvers'],
      message: 'fourEyes needs at least two approvers, so that someone other than the starter can approve',
    });
  }
  const verification = obj(plan.verification);
  arr(verification.crossNamespace)
    .map(obj)
    .forEach((p, i) => {
      if (typeof p.from === 'string' && !selects && !seen.has(p.from))
        issues.push({ path: ['verification', 'crossNamespace', i, 'from'], message: `"${p.from}" is not a planned namespace` });
    });
  arr(verification.gateway)
    .map(obj)
    .forEach((p, i) => {
      if (typeof p.namespace === 'string' && !selects && !seen.has(p.namespace))
        issues.push({ path: ['verification', 'gateway', i, 'namespace'], message: `"${p.namespace}" is not a planned namespace` });
    });
  return issues;
}

/** What a DNS cutover changes and how it is verified (the field report's way: a second gateway, DNS moved to it). */
const dnsCutoverSchema = z.strictObject({
  provider: dnsProvider,
  resolvers: z.array(hostPort).min(1, 'at least one resolver to verify the records through'),
  ttl: duration,
  stabilityWindow: duration.prefault(30),
  records: z
    .array(
      z.strictObject({
        name: z
          .string()
          .min(1)
          .regex(/^[a-z0-9.-]+$/i, 'a DNS name'),
        type: z.enum(['A']).default('A'),
      }),
    )
    .min(1, 'at least one record to cut over'),
});

export const planSchema = z
  .strictObject({
    apiVersion: z.literal('meshmove.dev/v1alpha1', { error: 'must be "meshmove.dev/v1alpha1"' }),
    kind: z.literal('MigrationPlan', { error: 'must be "MigrationPlan"' }),
    metadata: z.strictObject({
      name: z.string().min(1).max(63).refine(isDns1123Label, 'a name: lower-case letters, digits and "-"'),
      description: z.string().optional(),
    }),
    cluster: z
      .strictObject({
        context: z.string().optional().describe('kubeconfig context; the current context when absent'),
      })
      .prefault({}),
    source: z.strictObject({
      revision,
      istiodNamespace: namespaceName,
      gateway: gatewayRef,
    }),
    target: z.strictObject({
      revision,
      istiodNamespace: namespaceName,
      discoveryLabels: labels.refine((l) => Object.keys(l).length > 0, "at least one label the target's discoverySelectors select on"),
      gateway: z
        .union([gatewayRef, z.literal(IN_PLACE)], {
          error: `a second gateway (namespace, service, selector) or "${IN_PLACE}" (the source's gateway moves to this revision)`,
        })
        .describe('a second gateway that DNS moves to, or "in-place": the source gateway is relabelled and restarted'),
      tag: revision
        .optional()
        .describe(
          'the revision tag the namespaces select (istio.io/rev=<tag>): pointed at this revision once, before the waves, as `istioctl tag set` does',
        ),
    }),
    waves: z.array(wave).min(1, 'at least one wave'),
    restart: z
      .strictObject({
        maxConcurrent: z.number().int().min(1).max(100).default(3),
        timeout: duration.prefault(600),
      })
      .prefault({}),
    gates: z
      .strictObject({
        start: z.boolean().default(true),
        namespace: z.boolean().default(false),
        dnsCutover: z.boolean().default(true),
        /** Before an in-place gateway move (target.gateway: in-place). */
        gatewayMove: z.boolean().default(true),
        decommission: z.boolean().default(true),
        expiresAfter: duration.prefault(86_400),
      })
      .prefault({}),
    /** `signed` (default): every decision is signed with an approver's SSH key. `unverified`: names only. */
    identity: z.enum(['signed', 'unverified']).default('signed'),
    approvers: z.array(approver).default([]),
    fourEyes: z.boolean().default(true),
    rootCA: z.strictObject({ acceptDifferentRoots: z.boolean().default(false) }).prefault({}),
    verification: z
      .strictObject({
        crossNamespace: z.array(crossNamespaceProbe).default([]),
        gateway: z.array(gatewayProbe).default([]),
        metricsWindow: duration.prefault(30),
        prometheusUrl: z
          .never({ error: 'moved: name the Prometheus in analysis.prometheus.url (and its thresholds under analysis)' })
          .optional(),
      })
      .prefault({}),
    analysis: analysis.optional(),
    notify: notify.optional(),
    dns: z.union([z.literal(NO_DNS), dnsCutoverSchema], {
      error: `the DNS cutover (provider, resolvers, ttl, records), or "${NO_DNS}" where clients keep the address they use`,
    }),
    failurePolicy: z
      .strictObject({
        onNamespaceFailure: z.enum(['pause', 'rollback-namespace']).default('pause'),
        failureBudget: z.number().int().min(1).default(1),
      })
      .prefault({}),
    backup: backupSchema,
  })
  .superRefine((plan, ctx) => {
    for (const issue of crossFieldIssues(plan)) ctx.addIssue({ code: 'custom', ...issue });
    // Normalized durations are milliseconds here.
    if (plan.dns !== NO_DNS && plan.dns.ttl < 1000) ctx.addIssue({ code: 'custom', path: ['dns', 'ttl'], message: 'a TTL of at least 1s' });
    if (plan.target.gateway === IN_PLACE && plan.dns !== NO_DNS)
      ctx.addIssue({
        code: 'custom',
        path: ['dns'],
        message: `the gateway moves in place and keeps its address: set dns: ${NO_DNS} (there is nothing to cut over)`,
      });
  })
  // The run works on one shape: target.gateway is always a gateway (the source's when it moves in
  // place, with gatewayMove saying so) and dns is the cutover, or absent for `dns: none`.
  .transform(({ dns, target: { gateway, ...target }, ...rest }) => {
    const moves: { gateway: z.output<typeof gatewayRef>; gatewayMove?: typeof IN_PLACE } =
      gateway === IN_PLACE ? { gateway: rest.source.gateway, gatewayMove: IN_PLACE } : { gateway };
    return { ...rest, target: { ...target, ...moves }, dns: dns === NO_DNS ? undefined : dns };
  });

/** The plan as written (before defaults and normalization). */
export type PlanInput = z.input<typeof planSchema>;
/** The validated, normalized plan the workflow receives. Durations are milliseconds. */
export type Plan = z.output<typeof planSchema>;
export type Wave = Plan['waves'][number];
export type GatewayRef = Plan['target']['gateway'];
export type CrossNamespaceProbe = Plan['verification']['crossNamespace'][number];
export type GatewayProbe = Plan['verification']['gateway'][number];
export type DnsCutover = z.output<typeof dnsCutoverSchema>;
export type DnsProviderConfig = DnsCutover['provider'];
export type AnalysisConfig = NonNullable<Plan['analysis']>;

export type WaveSelect = NonNullable<Wave['select']>;
