// The in-place gateway move (plan target.gateway: in-place): no second gateway and no DNS change;
// the source's gateway Deployment moves to the target revision the way its pods choose a revision
// today, then rolls. Its pods take the revision from istio.io/rev on their namespace when the
// namespace has it (the namespace webhook wins, docs/istio-facts.md §2), else from istio.io/rev on
// the pod template (the gateway chart's way). The label is changed where it is; the revision it had
// is recorded on the Deployment first, so a retry after a crash still knows what to move back to.
import type { V1Deployment, V1Namespace } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/common';
import type { GatewayRelabel, RunRef } from '../contract.js';
import { IstioLabel } from '../../mesh/naming.js';
import { mustExist, retryOnKubeConflict } from '../kube/errors.js';
import { restartPatch } from '../namespace/rollout.js';
import { nowMs, type ClusterDeps } from '../shared/deps.js';
import { FailureType } from '../failures.js';
import { gatewayDeploymentName } from '../../plan/model.js';

/** On the gateway Deployment: `{"migrationId":…,"where":…,"previous":…}` as it was before this run moved it. */
export const GATEWAY_PREVIOUS_ANNOTATION = 'meshmove.dev/gateway-previous-revision';
const INJECTION_LEGACY = 'istio-injection';

interface PreviousRecord {
  migrationId: string;
  where: GatewayRelabel['where'];
  previous: string;
}

export type GatewayRevisionSource =
  | { where: 'namespace' | 'template'; revision: string }
  /** Why the gateway cannot be moved by revision. */
  | { where: 'none'; why: string };

/** Where the gateway's pods take their revision from (pure): what a revision webhook selects them by. */
export function gatewayRevisionSource(
  namespaceLabels: Record<string, string>,
  templateLabels: Record<string, string>,
): GatewayRevisionSource {
  if (namespaceLabels[INJECTION_LEGACY] !== undefined)
    return {
      where: 'none',
      why: `its namespace has ${INJECTION_LEGACY}=${namespaceLabels[INJECTION_LEGACY]}, which overrides istio.io/rev: remove it and label the namespace (or the pod template) with istio.io/rev`,
    };
  const onNamespace = namespaceLabels[IstioLabel.rev];
  if (onNamespace !== undefined) return { where: 'namespace', revision: onNamespace };
  const onTemplate = templateLabels[IstioLabel.rev];
  if (onTemplate !== undefined) return { where: 'template', revision: onTemplate };
  return {
    where: 'none',
    why: 'neither its namespace nor its pod template has istio.io/rev (it is injected by the default revision): label the pod template with istio.io/rev, or use a second gateway',
  };
}

export function readPreviousRecord(d: V1Deployment, migrationId: string): PreviousRecord | undefined {
  const raw = d.metadata?.annotations?.[GATEWAY_PREVIOUS_ANNOTATION];
  if (!raw) return undefined;
  try {
    const r = JSON.parse(raw) as Partial<PreviousRecord>;
    return r.migrationId === migrationId && typeof r.previous === 'string' && (r.where === 'namespace' || r.where === 'template')
      ? (r as PreviousRecord)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Set the gateway's revision to `revision` where its pods take it from. On the pod template the
 * same patch writes the restart key, so the restart that follows (restartWorkloads with `key`) only
 * waits for the rollout the label change starts. Idempotent: a rerun finds the label set and the
 * recorded previous revision.
 */
export async function relabelGateway(deps: ClusterDeps, input: RunRef & { revision: string; key: string }): Promise<GatewayRelabel> {
  const gw = input.plan.source.gateway;
  const name = gatewayDeploymentName(gw);
  return retryOnKubeConflict(async () => {
    const [ns, d] = await Promise.all([
      deps.kube.getNamespace(gw.namespace),
      deps.kube.getWorkload('Deployment', gw.namespace, name) as Promise<V1Deployment | undefined>,
    ]);
    const namespace: V1Namespace = mustExist(
      ns,
      { resource: 'namespaces', group: '', name: gw.namespace },
      'plan.source.gateway.namespace',
    );
    const deployment = mustExist(
      d,
      { resource: 'deployments', group: 'apps', namespace: gw.namespace, name },
      'plan.source.gateway.deployment (or its service name)',
    );
    const source = gatewayRevisionSource(namespace.metadata?.labels ?? {}, deployment.spec?.template?.metadata?.labels ?? {});
    if (source.where === 'none') {
      throw ApplicationFailure.create({
        type: FailureType.GatewayNotMovable,
        nonRetryable: true,
        message: `gateway ${gw.namespace}/${name} cannot move to ${input.revision} in place: ${source.why}`,
      });
    }
    const recorded = readPreviousRecord(deployment, input.migrationId);
    const previous = recorded?.previous ?? source.revision;
    const result: GatewayRelabel = { where: source.where, previous, changed: source.revision !== input.revision };
    const record = recorded
      ? {}
      : {
          metadata: {
            annotations: {
              [GATEWAY_PREVIOUS_ANNOTATION]: JSON.stringify({
                migrationId: input.migrationId,
                where: source.where,
                previous,
              } satisfies PreviousRecord),
            },
          },
        };
    if (source.where === 'template') {
      if (!result.changed && recorded) return result;
      // Conditional on what was read: a concurrent writer gets a 409, and the next round decides again.
      const restart = restartPatch(input.key, new Date(nowMs(deps))) as { spec: { template: { metadata: { annotations: object } } } };
      const patch = {
        metadata: { resourceVersion: deployment.metadata?.resourceVersion, ...record.metadata },
        ...(result.changed
          ? { spec: { template: { metadata: { labels: { [IstioLabel.rev]: input.revision }, ...restart.spec.template.metadata } } } }
          : {}),
      };
      await deps.kube.patchWorkload('Deployment', gw.namespace, name, patch, 'merge');
    } else {
      if (!recorded)
        await deps.kube.patchWorkload(
          'Deployment',
          gw.namespace,
          name,
          { metadata: { resourceVersion: deployment.metadata?.resourceVersion, ...record.metadata } },
          'merge',
        );
      if (result.changed)
        await deps.kube.patchNamespace(
          gw.namespace,
          { metadata: { resourceVersion: namespace.metadata?.resourceVersion, labels: { [IstioLabel.rev]: input.revision } } },
          'merge',
        );
    }
    if (result.changed)
      deps.logger?.info(
        {
          migrationId: input.migrationId,
          gateway: `${gw.namespace}/${name}`,
          where: source.where,
          from: source.revision,
          to: input.revision,
        },
        'gateway relabeled',
      );
    return result;
  });
}
