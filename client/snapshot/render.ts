// The snapshot as a file: a commented YAML twin scenario. The header says where it came from, when,
// what a snapshot never carries, and what this cluster had that the scenario format cannot say. The
// `# taken:` line is the only one that changes between two snapshots of the same cluster.
import { stringify } from 'yaml';
import type { ScenarioInput } from '../../twin/scenario.js';

/** What no snapshot carries, whatever the cluster. */
export const NEVER_EXPORTED: readonly string[] = [
  'Secrets (never read)',
  "ConfigMap data: of istiod's ConfigMap istio[-<rev>] only discoverySelectors and outboundTrafficPolicy (key `mesh`)",
  "the control planes' root certificates (istio-ca-root-cert, their injectors' caBundle): compared by digest for sameRootCA, never written",
  "environment values (only istiod's ENABLE_ENHANCED_RESOURCE_SCOPING flag), images, image pull secrets",
  'annotations: workloads keep only their injection-relevant pod labels (sidecar.istio.io/inject, istio.io/rev)',
];

/** What the twin scenario format cannot express, so no snapshot has it. */
export const NOT_EXPRESSIBLE: readonly string[] = [
  "pod specs (containers, probes, resources, volumes, service accounts), pod labels other than Istio's injection labels",
  "Services other than one per workload (and its first port); ValidatingWebhookConfigurations; RBAC; CRDs other than Istio's",
  'istiod settings other than revision, version, replicas, default, tags, discoverySelectors, outboundTrafficPolicy',
  "the twin's timings and faults (defaults); DNS records other than the --plan's",
];

export interface SnapshotHeader {
  /** undefined when anonymized: the source is not named. */
  source?: { context: string; server: string } | undefined;
  takenAt: Date;
  /** Shown one per line; when anonymized only counted (the lines name things). */
  lost: readonly string[];
  anonymized: boolean;
}

export function renderSnapshot(scenario: ScenarioInput, h: SnapshotHeader): string {
  const lines = [
    h.source
      ? `meshmove twin snapshot of context "${h.source.context}" (${h.source.server})`
      : 'meshmove twin snapshot, anonymized: names are pseudonyms and the source cluster is not named',
    `taken: ${h.takenAt.toISOString()}`,
    'A twin scenario: meshmove twin serve --scenario FILE, or meshmove demo --scenario FILE.',
    'Never in a snapshot:',
    ...NEVER_EXPORTED.map((l) => `  - ${l}`),
    'Not expressible in a twin scenario:',
    ...NOT_EXPRESSIBLE.map((l) => `  - ${l}`),
  ];
  if (h.lost.length === 0) lines.push('This cluster had nothing else the scenario could not express.');
  else if (h.anonymized)
    lines.push(
      `This cluster had ${h.lost.length} more thing(s) the scenario could not express (listed by a snapshot without --anonymize).`,
    );
  else lines.push('This cluster also had, left out or changed:', ...h.lost.map((l) => `  - ${l}`));
  return `${lines.map((l) => `# ${l}`).join('\n')}\n${stringify(scenario, { lineWidth: 0 })}`;
}
