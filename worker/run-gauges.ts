// The run gauges of /metrics (meshmove_runs, meshmove_gates_open, meshmove_gate_open_seconds,
// meshmove_decisions_pending, meshmove_namespaces), read at scrape time from Temporal: the running
// migration workflows (visibility, no custom search attribute needed) and their status queries, plus
// the status of each namespace workflow they have running (a namespace's gate lives there).
// Bounded work per refresh, cached for a few seconds, one refresh at a time.
import { Client, type ConnectionLike } from '@temporalio/client';
import { statusQuery, type GateRecord, type NamespaceState, type RunStatus } from '../workflows/messages.js';
import type { MeshmoveMetrics } from './metrics.js';

export interface RunGaugeOptions {
  connection: ConnectionLike;
  namespace: string;
  /** How long a reading is reused (ms). */
  cacheMs?: number;
  /** At most this many running migrations are read per refresh. */
  maxRuns?: number;
  /** At most this many namespace workflows per run are asked for their status. */
  maxChildrenPerRun?: number;
  /** Deadline of one refresh (ms): a scrape is never held longer. */
  timeoutMs?: number;
  now?: () => number;
}

/** A namespace's gate is `namespace:NAME`: one label value for all of them (no label per namespace). */
export function gateLabel(id: string): string {
  return id.startsWith('namespace:') ? 'namespace' : id;
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

export class RunGauges {
  private readonly client: Client;
  private readonly cacheMs: number;
  private readonly maxRuns: number;
  private readonly maxChildren: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private readAt = 0;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly metrics: MeshmoveMetrics,
    opts: RunGaugeOptions,
  ) {
    this.client = new Client({ connection: opts.connection, namespace: opts.namespace });
    this.cacheMs = opts.cacheMs ?? 5_000;
    this.maxRuns = opts.maxRuns ?? 50;
    this.maxChildren = opts.maxChildrenPerRun ?? 100;
    this.timeoutMs = opts.timeoutMs ?? 5_000;
    this.now = opts.now ?? Date.now;
  }

  /** When each (run, gate) of the last reading opened: the age is computed at every scrape, cached reading or not. */
  private openGates: { run: string; gate: string; oldest: number }[] = [];

  /** Bring the gauges up to date unless the last reading is recent; never throws. */
  async refresh(): Promise<void> {
    await this.readIfStale();
    const now = this.now();
    this.metrics.gateAge.replace(
      this.openGates.map((g) => ({ labels: { run: g.run, gate: g.gate }, value: Math.max(0, (now - g.oldest) / 1000) })),
    );
  }

  private async readIfStale(): Promise<void> {
    if (this.now() - this.readAt < this.cacheMs) return;
    this.inFlight ??= this.read()
      .then(() => {
        this.readAt = this.now();
      })
      .catch(() => {
        this.metrics.statusErrors.inc();
      })
      .finally(() => {
        this.inFlight = undefined;
      });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.inFlight,
      new Promise<void>((r) => {
        timer = setTimeout(r, this.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
  }

  private async read(): Promise<void> {
    const ids: string[] = [];
    for await (const wf of this.client.workflow.list({
      query: "WorkflowType = 'migrationWorkflow' AND ExecutionStatus = 'Running'",
      pageSize: this.maxRuns,
    })) {
      ids.push(wf.workflowId);
      if (ids.length >= this.maxRuns) break;
    }
    const statuses = (
      await mapLimited(ids, 8, (id) =>
        this.client.workflow
          .getHandle(id)
          .query(statusQuery)
          .catch(() => undefined),
      )
    ).filter((s): s is RunStatus => s !== undefined);
    if (statuses.length < ids.length) this.metrics.statusErrors.inc({}, ids.length - statuses.length);

    const now = this.now();
    const phases = new Map<string, number>();
    const gates = new Map<string, { run: string; gate: string; count: number; oldest: number }>();
    const pending: { labels: Record<string, string>; value: number }[] = [];
    const namespaces: { labels: Record<string, string>; value: number }[] = [];
    const addGates = (run: string, records: readonly GateRecord[]) => {
      for (const g of records) {
        if (g.state !== 'open') continue;
        const gate = gateLabel(g.id);
        const k = `${run}\n${gate}`;
        const openedAt = Date.parse(g.openedAt);
        const e = gates.get(k) ?? { run, gate, count: 0, oldest: Number.isFinite(openedAt) ? openedAt : now };
        e.count++;
        if (Number.isFinite(openedAt)) e.oldest = Math.min(e.oldest, openedAt);
        gates.set(k, e);
      }
    };

    await mapLimited(statuses, 4, async (s) => {
      const run = s.workflowId;
      phases.set(s.phase, (phases.get(s.phase) ?? 0) + 1);
      addGates(run, s.gates);
      let waiting = s.pendingDecision ? 1 : 0;
      const counts: Partial<Record<NamespaceState, number>> = s.namespaceCounts ?? {};
      if (!s.namespaceCounts) for (const n of s.namespaces) counts[n.state] = (counts[n.state] ?? 0) + 1;
      for (const [state, value] of Object.entries(counts)) namespaces.push({ labels: { run, state }, value: value ?? 0 });
      const active = s.namespaces
        .filter((n) => (n.state === 'migrating' || n.state === 'rolling-back') && n.workflowId)
        .slice(0, this.maxChildren);
      const children = await mapLimited(active, 8, (n) =>
        this.client.workflow
          .getHandle(n.workflowId!)
          .query(statusQuery)
          .catch(() => undefined),
      );
      for (const c of children) {
        if (!c) continue; // starting or just ended: the next reading sees it
        addGates(run, c.gates);
        if (c.pendingDecision) waiting++;
      }
      pending.push({ labels: { run }, value: waiting });
    });

    this.metrics.runs.replace([...phases].map(([phase, value]) => ({ labels: { phase }, value })));
    this.metrics.gatesOpen.replace([...gates.values()].map((g) => ({ labels: { run: g.run, gate: g.gate }, value: g.count })));
    this.openGates = [...gates.values()].map(({ run, gate, oldest }) => ({ run, gate, oldest }));
    this.metrics.decisionsPending.replace(pending);
    this.metrics.namespaces.replace(namespaces);
  }
}
