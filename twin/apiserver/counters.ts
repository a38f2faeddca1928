// Request counters: per `verb resource`, per object for mutating verbs, faulted requests apart,
// and every admission webhook call (so tests can prove which webhooks saw a pod).
export interface WebhookCall {
  configuration: string;
  webhook: string;
  operation: string;
  resource: string;
  namespace: string;
  /** Object name, or generateName + '*' when the name is not yet generated. */
  name: string;
  outcome: 'patched' | 'allowed' | 'denied' | 'error-rejected' | 'error-ignored';
  message?: string;
  at: string;
}

export interface CountersSnapshot {
  total: number;
  /** `list pods`, `patch namespaces`, `update pods/status`, `watch apps/deployments`. */
  byVerbResource: Record<string, number>;
  /** Mutating verbs only: `patch namespaces/demo-a`, `patch apps/deployments/demo-a/web`. */
  byObject: Record<string, number>;
  /** Per user (the token's user; `admin` for the twin's own components and admin kubeconfigs): `verb resource` counts. */
  byUser: Record<string, Record<string, number>>;
  /**
   * Mutating requests that changed what is stored, by object (same keys as byObject; creates keyed
   * by the created object). A write that changes nothing keeps the resourceVersion and is not
   * counted, nor is a dry run or a refused write: this is "how many times was it applied".
   */
  applied: Record<string, number>;
  /** Requests answered by an injected fault, by `verb resource`; not in the maps above, except a
   * lost response: that request was carried out and is counted there too. */
  faulted: Record<string, number>;
  faultedTotal: number;
  /** Calls per `<configuration>/<webhook>`. */
  webhooks: Record<string, number>;
  /** The most recent webhook calls in order (bounded). */
  webhookCalls: WebhookCall[];
}

const MUTATING = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);
const MAX_WEBHOOK_LOG = 1000;

export class RequestCounters {
  private total = 0;
  private faultedTotal = 0;
  private byVerbResource = new Map<string, number>();
  private byObject = new Map<string, number>();
  private byUser = new Map<string, Map<string, number>>();
  private applied = new Map<string, number>();
  private faulted = new Map<string, number>();
  private webhooks = new Map<string, number>();
  private webhookCalls: WebhookCall[] = [];

  /** resourcePath: `pods`, `apps/deployments`, `pods/status`; objectPath: `demo-a/web` or `demo-a`. */
  record(verb: string, resourcePath: string, objectPath?: string, user?: string): void {
    this.total++;
    bump(this.byVerbResource, `${verb} ${resourcePath}`);
    if (user !== undefined) {
      let m = this.byUser.get(user);
      if (!m) this.byUser.set(user, (m = new Map()));
      bump(m, `${verb} ${resourcePath}`);
    }
    if (objectPath !== undefined && MUTATING.has(verb)) bump(this.byObject, `${verb} ${resourcePath}/${objectPath}`);
  }

  /** A mutating request changed the stored object (see CountersSnapshot.applied). */
  recordApplied(verb: string, resourcePath: string, objectPath: string): void {
    bump(this.applied, `${verb} ${resourcePath}/${objectPath}`);
  }

  recordFaulted(verb: string, resourcePath: string): void {
    this.faultedTotal++;
    bump(this.faulted, `${verb} ${resourcePath}`);
  }

  recordWebhook(call: WebhookCall): void {
    bump(this.webhooks, `${call.configuration}/${call.webhook}`);
    this.webhookCalls.push(call);
    if (this.webhookCalls.length > MAX_WEBHOOK_LOG) this.webhookCalls.shift();
  }

  get(key: string): number {
    return this.byVerbResource.get(key) ?? this.byObject.get(key) ?? 0;
  }

  snapshot(): CountersSnapshot {
    return {
      total: this.total,
      byVerbResource: Object.fromEntries(this.byVerbResource),
      byObject: Object.fromEntries(this.byObject),
      byUser: Object.fromEntries([...this.byUser].map(([u, m]) => [u, Object.fromEntries(m)])),
      applied: Object.fromEntries(this.applied),
      faulted: Object.fromEntries(this.faulted),
      faultedTotal: this.faultedTotal,
      webhooks: Object.fromEntries(this.webhooks),
      webhookCalls: [...this.webhookCalls],
    };
  }

  reset(): void {
    this.total = 0;
    this.faultedTotal = 0;
    this.byVerbResource.clear();
    this.byObject.clear();
    this.byUser.clear();
    this.applied.clear();
    this.faulted.clear();
    this.webhooks.clear();
    this.webhookCalls = [];
  }
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}
