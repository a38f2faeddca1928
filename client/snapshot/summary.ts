// What `twin snapshot --json` prints for scripts: counts, not contents.
import type { ScenarioInput } from '../../twin/scenario.js';

export interface SnapshotSummary {
  output: string;
  anonymized: boolean;
  counts: {
    controlPlanes: number;
    gateways: number;
    namespaces: number;
    workloads: number;
    services: number;
    istioConfig: number;
    objects: number;
    dnsRecords: number;
  };
  /** How many things the scenario could not express; `notes` lists them unless anonymized. */
  lost: number;
  notes?: string[];
}

export function snapshotSummary(s: ScenarioInput, o: { output: string; anonymized: boolean; lost: readonly string[] }): SnapshotSummary {
  const workloads = (s.namespaces ?? []).flatMap((n) => n.workloads ?? []);
  return {
    output: o.output,
    anonymized: o.anonymized,
    counts: {
      controlPlanes: s.controlPlanes.length,
      gateways: s.gateways?.length ?? 0,
      namespaces: s.namespaces?.length ?? 0,
      workloads: workloads.length,
      services: workloads.filter((w) => w.service !== false && w.service !== undefined).length,
      istioConfig: s.istioConfig?.length ?? 0,
      objects: s.objects?.length ?? 0,
      dnsRecords: s.dns?.records?.length ?? 0,
    },
    lost: o.lost.length,
    ...(o.anonymized ? {} : { notes: [...o.lost] }),
  };
}
