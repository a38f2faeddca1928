// In-memory storage: per resource, objects by namespace then name; one global resourceVersion
// counter; a bounded per-resource event log so watches can resume from a resourceVersion.
// Stored objects are never mutated after being stored (readers clone before changing).
import type { ResourceDef } from './resources.js';
import type { KubeObject } from './types.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Stored {
  readonly obj: KubeObject;
  readonly json: string;
  readonly rv: number;
}

export interface StoreEvent {
  type: WatchEventType;
  def: ResourceDef;
  rv: number;
  /** The new state (for DELETED, the last state with a fresh resourceVersion). */
  stored: Stored;
  old?: KubeObject | undefined;
}

const DEFAULT_EVENT_LOG_CAPACITY = 10_000;

class ResourceStore {
  constructor(private readonly capacity: number) {}

  readonly byNamespace = new Map<string, Map<string, Stored>>();
  size = 0;
  private readonly log: StoreEvent[] = [];
  private logStart = 0;
  /** resourceVersion of the newest event dropped from the log; watches from before it get 410. */
  compactedRv = 0;

  append(e: StoreEvent): void {
    this.log.push(e);
    if (this.log.length - this.logStart > this.capacity) {
      this.compactedRv = this.log[this.logStart]!.rv;
      this.logStart++;
      // Amortised compaction of the array head.
      if (this.logStart > this.capacity) {
        this.log.splice(0, this.logStart);
        this.logStart = 0;
      }
    }
  }

  eventsSince(rv: number): StoreEvent[] {
    const out: StoreEvent[] = [];
    for (let i = this.logStart; i < this.log.length; i++) if (this.log[i]!.rv > rv) out.push(this.log[i]!);
    return out;
  }
}

export class Store {
  /** eventLogCapacity: watch events kept per resource (the watch cache size). */
  constructor(private readonly eventLogCapacity = DEFAULT_EVENT_LOG_CAPACITY) {}

  private rv = 1000;
  private readonly resources = new Map<string, ResourceStore>();
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  currentRv(): number {
    return this.rv;
  }

  private of(def: ResourceDef): ResourceStore {
    const key = `${def.group}/${def.resource}`;
    let rs = this.resources.get(key);
    if (!rs) {
      rs = new ResourceStore(this.eventLogCapacity);
      this.resources.set(key, rs);
    }
    return rs;
  }

  get(def: ResourceDef, namespace: string, name: string): Stored | undefined {
    return this.of(def)
      .byNamespace.get(def.namespaced ? namespace : '')
      ?.get(name);
  }

  /** All objects (namespace undefined) or one namespace's, in namespace then name order. */
  list(def: ResourceDef, namespace?: string): Stored[] {
    const rs = this.of(def);
    const out: Stored[] = [];
    const pushSorted = (m: Map<string, Stored>): void => {
      const names = [...m.keys()].sort();
      for (const n of names) out.push(m.get(n)!);
    };
    if (namespace !== undefined && def.namespaced) {
      const m = rs.byNamespace.get(namespace);
      if (m) pushSorted(m);
      return out;
    }
    for (const ns of [...rs.byNamespace.keys()].sort()) pushSorted(rs.byNamespace.get(ns)!);
    return out;
  }

  count(def: ResourceDef): number {
    return this.of(def).size;
  }

  /** Namespaces holding at least one object of this resource. */
  namespacesOf(def: ResourceDef): string[] {
    return [...this.of(def).byNamespace.keys()];
  }

  /** Stores obj (already complete except resourceVersion), stamping a new resourceVersion. */
  put(def: ResourceDef, obj: KubeObject, old?: KubeObject): Stored {
    const rv = ++this.rv;
    obj.metadata.resourceVersion = String(rv);
    const stored: Stored = { obj, json: JSON.stringify(obj), rv };
    const rs = this.of(def);
    const ns = def.namespaced ? (obj.metadata.namespace ?? '') : '';
    let m = rs.byNamespace.get(ns);
    if (!m) {
      m = new Map();
      rs.byNamespace.set(ns, m);
    }
    const existed = m.has(obj.metadata.name!);
    m.set(obj.metadata.name!, stored);
    if (!existed) rs.size++;
    this.emit(rs, { type: existed ? 'MODIFIED' : 'ADDED', def, rv, stored, old });
    return stored;
  }

  /**
   * Puts back an object saved by a snapshot, keeping its resourceVersion (as an etcd restore does);
   * the global counter moves past it. Emits ADDED at that resourceVersion, so controllers resync
   * while a watch resumed from a resourceVersion taken before the snapshot sees nothing twice.
   */
  restore(def: ResourceDef, obj: KubeObject): Stored {
    const rv = Number(obj.metadata.resourceVersion);
    if (!Number.isInteger(rv) || rv <= 0)
      throw new Error(`restore: ${def.resource} ${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''} has no valid resourceVersion`);
    if (rv > this.rv) this.rv = rv;
    const stored: Stored = { obj, json: JSON.stringify(obj), rv };
    const rs = this.of(def);
    const ns = def.namespaced ? (obj.metadata.namespace ?? '') : '';
    let m = rs.byNamespace.get(ns);
    if (!m) {
      m = new Map();
      rs.byNamespace.set(ns, m);
    }
    if (m.has(obj.metadata.name!)) throw new Error(`restore: ${def.resource} ${ns}/${obj.metadata.name!} twice`);
    m.set(obj.metadata.name!, stored);
    rs.size++;
    this.emit(rs, { type: 'ADDED', def, rv, stored });
    return stored;
  }

  /** Moves the resourceVersion counter forward (never back): a restored snapshot's counter. */
  advanceRv(rv: number): void {
    if (rv > this.rv) this.rv = rv;
  }

  /** Every stored object of every resource this store has held, for a snapshot. */
  *all(): Generator<Stored> {
    for (const rs of this.resources.values()) for (const m of rs.byNamespace.values()) yield* m.values();
  }

  remove(def: ResourceDef, namespace: string, name: string): Stored | undefined {
    const rs = this.of(def);
    const ns = def.namespaced ? namespace : '';
    const m = rs.byNamespace.get(ns);
    const cur = m?.get(name);
    if (!m || !cur) return undefined;
    m.delete(name);
    if (m.size === 0) rs.byNamespace.delete(ns);
    rs.size--;
    const rv = ++this.rv;
    const last: KubeObject = { ...cur.obj, metadata: { ...cur.obj.metadata, resourceVersion: String(rv) } };
    const stored: Stored = { obj: last, json: JSON.stringify(last), rv };
    this.emit(rs, { type: 'DELETED', def, rv, stored, old: cur.obj });
    return stored;
  }

  /** Events after rv, or 'expired' when some were already dropped from the log. */
  eventsSince(def: ResourceDef, rv: number): StoreEvent[] | 'expired' {
    const rs = this.of(def);
    if (rv < rs.compactedRv) return 'expired';
    return rs.eventsSince(rv);
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(rs: ResourceStore, e: StoreEvent): void {
    rs.append(e);
    for (const l of [...this.listeners]) l(e);
  }
}
