// A work queue like client-go's: a key is processed by one worker at a time, adds while it is
// processing mark it dirty (processed again after), and keys can be re-added after a delay.
export class WorkQueue {
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, NodeJS.Timeout>();
  private scheduled = false;
  private stopped = false;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly onError: (key: string, e: unknown) => void,
    private readonly concurrency = 8,
  ) {}

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.queued.add(key);
    this.schedule();
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const existing = this.delayed.get(key);
    if (existing) clearTimeout(existing);
    const t = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, t);
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    for (const key of this.queued) {
      if (this.processing.size >= this.concurrency) break;
      if (this.processing.has(key)) continue;
      this.queued.delete(key);
      this.processing.add(key);
      void this.handler(key)
        .catch((e: unknown) => this.onError(key, e))
        .finally(() => {
          this.processing.delete(key);
          if (this.dirty.delete(key)) this.queued.add(key);
          if (this.queued.size) this.schedule();
          else if (this.processing.size === 0) this.notifyIdle();
        });
    }
    if (this.queued.size === 0 && this.processing.size === 0) this.notifyIdle();
  }

  /** True when nothing is queued or in flight (delayed keys do not count). */
  isIdle(): boolean {
    return this.queued.size === 0 && this.processing.size === 0;
  }

  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private notifyIdle(): void {
    for (const w of this.idleWaiters.splice(0)) w();
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.delayed.values()) clearTimeout(t);
    this.delayed.clear();
    this.queued.clear();
    this.notifyIdle();
  }
}
