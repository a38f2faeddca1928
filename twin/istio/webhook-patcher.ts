// What istiod does to its own webhook configurations: it watches the MutatingWebhookConfigurations
// and ValidatingWebhookConfigurations labeled istio.io/rev=<its revision> and patches every
// webhook's clientConfig.caBundle with its own root (so the apiserver trusts its serving
// certificate); on the validating ones it also turns failurePolicy from the chart's Ignore to Fail
// once its validation server answers — from then on they are fail-closed. A configuration relabeled
// to another revision (`istioctl tag set default`, meshmove's decommission) is taken over by that
// revision's istiod. The caBundle is therefore a place where each control plane's root is its own.
import type { V1MutatingWebhookConfiguration, V1ValidatingWebhookConfiguration } from '@kubernetes/client-node';
import type { Logger } from '../../logging/logger.js';
import { IstioLabel } from '../../mesh/naming.js';
import { MERGE_PATCH, isNotFound, onConflict, retrying, type KubeClients } from './kube-client.js';
import { Reflector } from './reflector.js';

type WebhookConfig = V1MutatingWebhookConfiguration | V1ValidatingWebhookConfiguration;

export interface WebhookPatcherOptions {
  revision: string;
  rootPem: string;
  kube: KubeClients;
  logger: Logger;
}

/** The webhooks as istiod wants them, or undefined when they already are (pure). */
export function desiredWebhooks(cfg: WebhookConfig, caBundle: string, validating: boolean): WebhookConfig['webhooks'] | undefined {
  const hooks = cfg.webhooks ?? [];
  const stale = hooks.some((w) => w.clientConfig?.caBundle !== caBundle || (validating && w.failurePolicy !== 'Fail'));
  if (!stale) return undefined;
  return hooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle }, ...(validating ? { failurePolicy: 'Fail' } : {}) }));
}

export class WebhookPatcher {
  private readonly mutating: Reflector<V1MutatingWebhookConfiguration>;
  private readonly validating: Reflector<V1ValidatingWebhookConfiguration>;
  private readonly caBundle: string;
  private stopped = false;
  patches = 0;

  constructor(private readonly o: WebhookPatcherOptions) {
    this.caBundle = Buffer.from(o.rootPem, 'utf8').toString('base64');
    const labelSelector = `${IstioLabel.rev}=${o.revision}`;
    const kc = o.kube.kc;
    this.mutating = new Reflector<V1MutatingWebhookConfiguration>({
      kc,
      logger: o.logger,
      labelSelector,
      path: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      list: () => o.kube.admission.listMutatingWebhookConfiguration({ labelSelector }),
    });
    this.validating = new Reflector<V1ValidatingWebhookConfiguration>({
      kc,
      logger: o.logger,
      labelSelector,
      path: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
      list: () => o.kube.admission.listValidatingWebhookConfiguration({ labelSelector }),
    });
  }

  start(): void {
    this.mutating.on((event, cfg) => {
      if (event !== 'delete') void this.reconcile(cfg, false);
    });
    this.validating.on((event, cfg) => {
      if (event !== 'delete') void this.reconcile(cfg, true);
    });
    this.mutating.start();
    this.validating.start();
  }

  synced(): Promise<unknown> {
    return Promise.all([this.mutating.synced, this.validating.synced]);
  }

  stop(): void {
    this.stopped = true;
    this.mutating.stop();
    this.validating.stop();
  }

  private async reconcile(cfg: WebhookConfig, validating: boolean): Promise<void> {
    const name = cfg.metadata?.name ?? '';
    const api = this.o.kube.admission;
    const stopped = (): boolean => this.stopped;
    try {
      // The patch is decided from the configuration's webhooks: after a conflict, read it again.
      await onConflict(async (attempt) => {
        const current =
          attempt === 1
            ? cfg
            : await retrying<WebhookConfig>(
                () => (validating ? api.readValidatingWebhookConfiguration({ name }) : api.readMutatingWebhookConfiguration({ name })),
                { stopped },
              );
        const webhooks = desiredWebhooks(current, this.caBundle, validating);
        if (!webhooks || this.stopped) return;
        await retrying(
          () =>
            validating
              ? api.patchValidatingWebhookConfiguration({ name, body: { webhooks } }, MERGE_PATCH)
              : api.patchMutatingWebhookConfiguration({ name, body: { webhooks } }, MERGE_PATCH),
          { stopped },
        );
        this.patches++;
      });
    } catch (err) {
      if (!isNotFound(err))
        this.o.logger.warn({ err: String(err), name, revision: this.o.revision }, 'patching the webhook configuration failed');
    }
  }
}
