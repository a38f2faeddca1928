// The records the twin's DNS server answers: A records with a TTL, changed by the DNS cutover
// (through the webhook provider or the operator route) and read back by resolving.
export interface ARecord {
  name: string;
  type: 'A';
  address: string;
  ttl: number;
}

/** Names compare case-insensitively and without the trailing dot, as DNS does. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

export function isIpv4(address: string): boolean {
  return IPV4.test(address);
}

export class DnsZone {
  private readonly records = new Map<string, ARecord>();
  private readonly listeners = new Set<(r: ARecord) => void>();
  private readonly mutationListeners = new Set<() => void>();
  changes = 0;

  constructor(initial: readonly ARecord[] = []) {
    for (const r of initial) this.records.set(normalizeName(r.name), { ...r, name: normalizeName(r.name) });
  }

  lookup(name: string): ARecord | undefined {
    return this.records.get(normalizeName(name));
  }

  list(): ARecord[] {
    return [...this.records.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Sets every record; true when anything differed (so a repeated request reports no change). */
  apply(records: readonly ARecord[]): boolean {
    let changed = false;
    for (const r of records) {
      const name = normalizeName(r.name);
      const cur = this.records.get(name);
      if (cur && cur.address === r.address && cur.ttl === r.ttl) continue;
      const next = { name, type: 'A' as const, address: r.address, ttl: r.ttl };
      this.records.set(name, next);
      changed = true;
      this.changes++;
      for (const l of [...this.listeners]) l(next);
    }
    if (changed) for (const l of [...this.mutationListeners]) l();
    return changed;
  }

  remove(name: string): boolean {
    const removed = this.records.delete(normalizeName(name));
    if (removed) for (const l of [...this.mutationListeners]) l();
    return removed;
  }

  /** Called after any change to the records, removals included (for saving the twin's state). */
  onMutate(fn: () => void): () => void {
    this.mutationListeners.add(fn);
    return () => this.mutationListeners.delete(fn);
  }

  onChange(fn: (r: ARecord) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
