// The plan `meshmove plan init` proposes, as the object written to the file, with the comments that
// explain each choice keyed by the path of the field they belong to (document.ts places them).
// Everything here is decided from the inventory; nothing is read from the cluster.
import { generateKeyPairSync } from 'node:crypto';
import { IN_PLACE, NO_DNS, type PlanInput } from '../../plan/schema.js';
import { IstioLabel } from '../../mesh/naming.js';
import { gatewayRevisionSource } from '../../activities/gateway/move.js';
import type { ClusterInventory, ControlPlaneInfo, GatewayInfo, NamespaceInfo } from './inventory.js';
import { chooseDiscoveryLabels, chooseGateway, gatewaySelector, hostsBoundTo, planName, suggestWaves, type SideChoice } from './choose.js';

export type FieldPath = (string | number)[];

/** A comment for the file: above the field (`before`) or at the end of its line (`after`); path [] = the file's header. */
export interface PlanNote {
  path: FieldPath;
  text: string;
  where: 'before' | 'after';
}

export interface PlanDraft {
  plan: PlanInput;
  notes: PlanNote[];
  /** Planned namespaces, the others by why they are not planned. */
  namespaces: {
    planned: string[];
    onTarget: string[];
    otherRevision: { name: string; revision: string }[];
    notInjected: string[];
    excluded: string[];
  };
  gateways: { source?: GatewayInfo; target?: GatewayInfo };
  dnsHosts: string[];
}

export const BACKUP_LOCATION = './.meshmove/backups';
/** Reserved top-level domain (RFC 2606): a resolver that never answers, until replaced. */
export const RESOLVER_PLACEHOLDER = 'resolver.change-me.invalid';
export const RECORD_PLACEHOLDER = 'change-me.invalid';
export const APPROVER_PLACEHOLDERS = ['change-me-1', 'change-me-2'] as const;
const LIST_IN_COMMENT = 12;

function names(list: readonly string[], max = LIST_IN_COMMENT): string {
  return list.length <= max ? list.join(', ') : `${list.slice(0, max).join(', ')} and ${list.length - max} more`;
}

/**
 * An ed25519 public key in OpenSSH form whose private key is thrown away at once: the plan
 * validates (a signed identity needs a key), yet nobody can sign its start or any gate until a
 * real approver's key replaces it.
 */
export function keyNobodyHolds(): string {
  const { publicKey } = generateKeyPairSync('ed25519');
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  // SSH wire format: each field is a uint32 length, then the bytes.
  const str = (b: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([str(Buffer.from('ssh-ed25519')), str(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} placeholder-key-nobody-holds`;
}

function gatewayRef(
  g: GatewayInfo | undefined,
  cp: ControlPlaneInfo,
): { namespace: string; service: string; deployment?: string; selector: Record<string, string> } {
  if (!g) return { namespace: cp.namespace, service: 'istio-ingressgateway', selector: { istio: 'ingressgateway' } };
  const service = g.service?.name ?? g.deployment;
  return {
    namespace: g.namespace,
    service,
    ...(g.deployment !== service ? { deployment: g.deployment } : {}),
    selector: gatewaySelector(g),
  };
}

function describeGateway(g: GatewayInfo | undefined, cp: ControlPlaneInfo, others: readonly GatewayInfo[], side: string): string {
  if (!g)
    return `CHANGE-ME: no ingress gateway of revision ${cp.revision} found (Deployments whose pods carry the gateway injection template, "ingressgateway" in their name or istio/app label, or that an Istio Gateway selects); these values are a guess`;
  const svc = g.service
    ? `Service ${g.namespace}/${g.service.name} (${g.service.type ?? 'ClusterIP'}, external address ${g.service.address ?? 'none yet'})`
    : `no Service selects its pods (CHANGE-ME: the service name below is the Deployment's)`;
  const sel = g.podLabels.istio
    ? "its pods' istio label"
    : g.service && Object.keys(g.service.selector).length > 0
      ? "its Service's selector"
      : "its pods' labels";
  const more =
    others.length > 0 ? `; other gateways of this revision: ${others.map((o) => `${o.namespace}/${o.deployment}`).join(', ')}` : '';
  return `the ${side} gateway: Deployment ${g.namespace}/${g.deployment}, ${svc}; selector from ${sel}${more}`;
}

function describeControlPlane(cp: ControlPlaneInfo, side: string): string {
  return [
    `${side}: istiod-${cp.revision} in ${cp.namespace}, Istio ${cp.version ?? `version unknown (${cp.image ?? 'no image'})`}; injects ${cp.injectedNamespaces} namespace(s) today`,
    cp.meshConfigError
      ? `mesh config: ${cp.meshConfigError}`
      : `mesh config: discoverySelectors ${cp.discoverySelectors.length === 0 ? 'none (it discovers every namespace)' : cp.discoverySelectorsText}; outboundTrafficPolicy ${cp.outboundTrafficPolicy ?? 'ALLOW_ANY'}`,
    `root CA: ${cp.root ?? 'not readable'} (${cp.rootFrom})`,
  ].join('\n');
}

export function draftPlan(inv: ClusterInventory, sides: SideChoice, opts: { generatedAt?: string } = {}): PlanDraft {
  const { source, target } = sides;
  const notes: PlanNote[] = [];
  const note = (path: FieldPath, text: string, where: 'before' | 'after' = 'before'): void => {
    notes.push({ path, text, where });
  };

  const src = chooseGateway(inv.gateways, source);
  const tgt = chooseGateway(inv.gateways, target);
  const discovery = chooseDiscoveryLabels(target.discoverySelectors, target.revision);

  // DNS: what points at the source gateway today.
  const bound = src.chosen ? hostsBoundTo(src.chosen.podLabels, inv.istioGateways, inv.virtualServices) : { hosts: [], skipped: [] };
  const hostsPerNs = new Map<string, number>();
  for (const h of bound.hosts) for (const ns of h.namespaces) hostsPerNs.set(ns, (hostsPerNs.get(ns) ?? 0) + 1);

  // Who moves: the namespaces the source injects today, except control-plane and gateway namespaces.
  const excludedNs = new Set([
    source.namespace,
    target.namespace,
    ...inv.controlPlanes.map((c) => c.namespace),
    ...[src.chosen, tgt.chosen].flatMap((g) => (g ? [g.namespace] : [])),
  ]);
  const plannedInfo: NamespaceInfo[] = [];
  const onTarget: string[] = [];
  const otherRevision: { name: string; revision: string }[] = [];
  const notInjected: string[] = [];
  const excluded: string[] = [];
  for (const ns of inv.namespaces) {
    if (excludedNs.has(ns.name)) {
      if (ns.injectedBy === source.revision) excluded.push(ns.name);
      continue;
    }
    if (ns.injectedBy === source.revision) plannedInfo.push(ns);
    else if (ns.injectedBy === target.revision) onTarget.push(ns.name);
    else if (ns.injectedBy !== null) otherRevision.push({ name: ns.name, revision: ns.injectedBy });
    else notInjected.push(ns.name);
  }
  const waves = suggestWaves(plannedInfo.map((n) => ({ name: n.name, workloads: n.workloads, hosts: hostsPerNs.get(n.name) ?? 0 })));
  const workloadsOf = new Map(plannedInfo.map((n) => [n.name, n.workloads]));

  // The cutover: with no gateway of the target's own, the source's moves in place when it can
  // (istio.io/rev on its namespace or pod template), and DNS stays as it is.
  const nsLabels = new Map(inv.namespaces.map((n) => [n.name, n.labels]));
  const inPlace =
    !tgt.chosen &&
    src.chosen !== undefined &&
    gatewayRevisionSource(nsLabels.get(src.chosen.namespace) ?? {}, src.chosen.podLabels).where !== 'none';
  // The revision-tag path: the tag pointing at the source that most planned namespaces select.
  const tags = inv.revisionTags
    .filter((t) => t.revision === source.revision)
    .map((t) => ({ tag: t.tag, namespaces: plannedInfo.filter((n) => n.labels[IstioLabel.rev] === t.tag).length }))
    .filter((t) => t.namespaces > 0)
    .sort((a, b) => b.namespaces - a.namespaces || a.tag.localeCompare(b.tag));
  const tag = tags[0];

  const records = bound.hosts.length > 0 ? bound.hosts.map((h) => ({ name: h.name })) : [{ name: RECORD_PLACEHOLDER }];
  const plan: PlanInput = {
    apiVersion: 'meshmove.dev/v1alpha1',
    kind: 'MigrationPlan',
    metadata: {
      name: planName(source.revision, target.revision),
      description: `${source.revision} (${source.namespace}) -> ${target.revision} (${target.namespace}), proposed by meshmove plan init`,
    },
    cluster: { context: inv.context },
    source: { revision: source.revision, istiodNamespace: source.namespace, gateway: gatewayRef(src.chosen, source) },
    target: {
      revision: target.revision,
      istiodNamespace: target.namespace,
      discoveryLabels: discovery.labels,
      gateway: inPlace ? IN_PLACE : gatewayRef(tgt.chosen, target),
      ...(tag ? { tag: tag.tag } : {}),
    },
    waves: waves.length > 0 ? waves : [{ name: 'canary', concurrency: 1, namespaces: ['change-me'] }],
    restart: { maxConcurrent: 3, timeout: '10m' },
    gates: inPlace
      ? { start: true, namespace: false, gatewayMove: true, decommission: true, expiresAfter: '24h' }
      : { start: true, namespace: false, dnsCutover: true, decommission: true, expiresAfter: '24h' },
    identity: 'signed',
    approvers: APPROVER_PLACEHOLDERS.map((name) => ({ name, keys: [keyNobodyHolds()] })),
    fourEyes: true,
    rootCA: { acceptDifferentRoots: false },
    verification: { metricsWindow: '30s' },
    dns: inPlace
      ? NO_DNS
      : {
          provider: { type: 'manual' },
          resolvers: [RESOLVER_PLACEHOLDER],
          ttl: '300s',
          stabilityWindow: '30s',
          records,
        },
    failurePolicy: { onNamespaceFailure: 'pause', failureBudget: 1 },
    backup: { location: BACKUP_LOCATION },
  };

  // ---- the comments
  const cpList = inv.controlPlanes.map((c) => `${c.revision} in ${c.namespace} (injects ${c.injectedNamespaces})`).join('; ');
  note(
    [],
    [
      `Proposed by \`meshmove plan init\` from context ${inv.context}${opts.generatedAt ? ` at ${opts.generatedAt}` : ''} (read-only).`,
      `Control planes found: ${cpList}.`,
      `Source and target: ${sides.basis}.`,
      inv.revisionTags.length > 0
        ? `Revision tags: ${inv.revisionTags.map((t) => `${t.tag} -> ${t.revision} (${t.webhookConfiguration})`).join('; ')}.`
        : 'Revision tags: none.',
      inPlace
        ? 'Before using it, replace every CHANGE-ME: the approvers (their keys); add verification probes.'
        : 'Before using it, replace every CHANGE-ME: the approvers (their keys), dns.resolvers, dns.ttl and',
      inPlace
        ? 'Then:  meshmove plan validate FILE,  meshmove plan rbac FILE  and  meshmove preflight FILE'
        : 'dns.provider; add verification probes. Then:  meshmove plan validate FILE  and  meshmove preflight FILE',
    ].join('\n'),
  );

  note(['metadata', 'name'], 'a short name; it becomes part of the workflow id', 'after');
  note(['cluster', 'context'], 'the kubeconfig context this plan was read from', 'after');
  note(['source'], describeControlPlane(source, 'The control plane being left'));
  note(['source', 'gateway'], describeGateway(src.chosen, source, src.others, 'source'));
  note(['target'], describeControlPlane(target, 'The control plane being moved to'));
  note(['target', 'discoveryLabels'], `${discovery.note}; added to each namespace in the same patch as istio.io/rev`);
  if (inPlace)
    note(
      ['target', 'gateway'],
      `in-place: ${target.revision} has no ingress gateway of its own, so the source's (${src.chosen!.namespace}/${src.chosen!.deployment}) moves to it after the namespaces: istio.io/rev where its pods take their revision, one rollout; its address stays, so dns: none. Or name a second gateway here and give a dns section`,
    );
  else note(['target', 'gateway'], describeGateway(tgt.chosen, target, tgt.others, 'target'));
  if (tag)
    note(
      ['target', 'tag'],
      `${tag.namespaces} of the planned namespaces select revision tag ${tag.tag}, which points at ${source.revision}: the run points it at ${target.revision} once before the first wave (as istioctl tag set does), then restarts the namespaces wave by wave${
        tags.length > 1
          ? `; other tags on the source: ${tags
              .slice(1)
              .map((t) => t.tag)
              .join(', ')}`
          : ''
      }. Remove this line to set istio.io/rev=${target.revision} on each namespace instead`,
    );

  const waveLines = [
    waves.length > 0
      ? `Suggested waves for the ${plannedInfo.length} namespace(s) ${source.revision} injects today: a canary of the smallest (by workload count; those serving no gateway host first), then waves growing x2 then x3, concurrency growing up to 50. Reorder freely: each namespace must appear once.`
      : `CHANGE-ME: ${source.revision} injects no namespace today: nothing to move was found; "change-me" keeps the plan valid`,
  ];
  if (onTarget.length > 0) waveLines.push(`Already injected by the target ${target.revision} (not planned): ${names(onTarget)}.`);
  if (otherRevision.length > 0)
    waveLines.push(`Injected by another revision (not planned): ${names(otherRevision.map((o) => `${o.name} (${o.revision})`))}.`);
  if (notInjected.length > 0)
    waveLines.push(`No sidecar injection today (not planned): ${notInjected.length} namespace(s): ${names(notInjected)}.`);
  if (excluded.length > 0)
    waveLines.push(
      `Control-plane or gateway namespaces injected by the source (never planned as workload namespaces): ${names(excluded)}.`,
    );
  const conflicts = plannedInfo.filter((n) => n.conflict).map((n) => n.name);
  if (conflicts.length > 0) waveLines.push(`More than one webhook injects these today: ${names(conflicts)} (see preflight below).`);
  note(['waves'], waveLines.join('\n'));
  waves.forEach((w, i) => {
    const total = w.namespaces.reduce((s, n) => s + (workloadsOf.get(n) ?? 0), 0);
    note(['waves', i, 'name'], `${w.namespaces.length} namespace(s), ${total} workload(s)`, 'after');
  });

  note(['restart'], 'the rollout restart that gives pods the new sidecar');
  note(['gates'], 'human approvals between phases: all on (namespace: true adds one per namespace)');
  note(['identity'], "signed: every decision is signed with an approver's SSH key and verified in the workflow", 'after');
  note(
    ['approvers'],
    [
      'CHANGE-ME: who may start the run and approve its gates. The two entries below are placeholders whose',
      'keys were generated and their private halves discarded: the plan validates, but nobody can start it',
      'until you put your approvers here, e.g.  - { name: alice, allowedSigners: allowed_signers }  (a git',
      'allowed_signers file relative to this plan) or  keys: ["ssh-ed25519 AAAA... alice@laptop"].',
      '`identity: unverified` would accept plain names instead (not signed; a warning at every gate).',
    ].join('\n'),
  );
  note(['fourEyes'], 'whoever started the run may not approve its gates (needs two approvers)', 'after');
  const sameRoot = source.root !== undefined && source.root === target.root;
  note(
    ['rootCA'],
    source.root && target.root
      ? sameRoot
        ? `the two control planes share one root CA (${source.root})`
        : `the control planes' roots differ (source ${source.root}, target ${target.root}): see preflight`
      : 'a root CA could not be read; preflight says more',
  );

  const probeExample = [
    'Probes are left to you (commented examples; uncomment under verification and adapt):',
    '  crossNamespace:            # calls made from inside a namespace after it moved',
    `    - from: ${waves[0]?.namespaces[0] ?? 'NAMESPACE'}`,
    '      url: http://SERVICE.OTHER-NAMESPACE.svc.cluster.local:8080/healthz',
    '      expectStatus: 200',
    '  gateway:                   # requests through the NEW gateway after a namespace moved',
    ...(bound.hosts.length > 0
      ? bound.hosts.slice(0, 4).flatMap((h) => [`    - host: ${h.name}`, '      path: /', `      namespace: ${h.namespaces[0]}`])
      : ['    - host: HOST', '      path: /', '      namespace: NAMESPACE']),
  ];
  note(['verification', 'metricsWindow'], probeExample.join('\n'));
  note(['verification', 'metricsWindow'], 'istiod push-error metrics are read twice this far apart', 'after');

  note(['dns'], 'Traffic analysis against Prometheus (analysis:) is off; see examples/plans/field-report.yaml to add it.');
  if (inPlace) note(['dns'], 'none: the gateway moves in place and keeps its address; no record changes', 'after');
  else {
    note(
      ['dns', 'provider', 'type'],
      'manual: a person changes the records and confirms at the dnsCutover gate; or type: webhook with url and secretEnv',
      'after',
    );
    note(
      ['dns', 'resolvers'],
      `CHANGE-ME: the resolvers the records are checked through after the change (${RESOLVER_PLACEHOLDER} never answers)`,
      'after',
    );
    note(['dns', 'ttl'], "CHANGE-ME: the records' current TTL (the old gateway stays up at least this long)", 'after');
    const recordNote =
      bound.hosts.length > 0
        ? `the hosts of the VirtualServices bound to a Gateway that selects the source gateway's pods (${bound.hosts.map((h) => `${h.name}: ${h.namespaces.join(', ')}`).join('; ')})`
        : `CHANGE-ME: no VirtualService host is bound to the source gateway${src.chosen ? '' : ' (no source gateway found)'}; name the records DNS points at it`;
    note(['dns', 'records'], bound.skipped.length > 0 ? `${recordNote}; not usable as records: ${names(bound.skipped)}` : recordNote);
  }
  note(['failurePolicy', 'onNamespaceFailure'], '"rollback-namespace": undo that namespace and go on', 'after');
  note(['backup', 'location'], 'one folder per run, with a manifest of sha256 digests', 'after');

  return {
    plan,
    notes,
    namespaces: { planned: waves.flatMap((w) => w.namespaces), onTarget, otherRevision, notInjected, excluded },
    gateways: { ...(src.chosen ? { source: src.chosen } : {}), ...(tgt.chosen ? { target: tgt.chosen } : {}) },
    dnsHosts: bound.hosts.map((h) => h.name),
  };
}
