// A list+watch cache of one resource, the way client-go's reflector keeps a controller's view:
// list, then watch from the list's resourceVersion; on a dropped watch resume from the last seen
// version; on 410 Gone list again. Unlike client-node's ListWatch it never gives up after an error
// (the twin's API server injects faults into watches too).
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../logging/logger.js';

export interface ObjectWithMeta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; uid?: string };
}

export interface ListResult<T> {
  items: T[];
  metadata?: { resourceVersion?: string };
}

export type ReflectorEvent = 'add' | 'update' | 'delete';
export type ReflectorHandler<T> = (event: ReflectorEvent, obj: T, old: T | undefined) => void;

export interface ReflectorOptions<T> {
  kc: KubeConfig;
  /** Watch path, e.g. `/api/v1/pods` or `/api/v1/namespaces/x/configmaps`. */
  path: string;
  /** Lists the same collection (with the same selectors). */
  list: () => Promise<ListResult<T>>;
  labelSelector?: string;
  fieldSelector?: string;
  logger: Logger;
  /** Pause before re-listing or re-watching after an error. */
  retryDelayMs?: number;
}

export function objectKey(o: ObjectWithMeta): string {
  const ns = o.metadata?.namespace;
  return ns ? `${ns}/${o.metadata?.name ?? ''}` : (o.metadata?.name ?? '');
}

export class Reflector<T extends ObjectWithMeta> {
  private readonly items = new Map<string, T>();
  private readonly handlers = new Set<ReflectorHandler<T>>();
  private resourceVersion = '';
  private stopped = false;
  private abort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private syncedResolve!: () => void;
  /** Resolves after the first successful list. */
  readonly synced: Promise<void> = new Promise((r) => {
    this.syncedResolve = r;
  });

  constructor(private readonly opts: ReflectorOptions<T>) {}

  start(): void {
    void this.relist();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
  }

  on(handler: ReflectorHandler<T>): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.items.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.items.values()];
  }

  get size(): number {
    return this.items.size;
  }

  private emit(event: ReflectorEvent, obj: T, old: T | undefined): void {
    for (const h of [...this.handlers]) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.opts.logger.error({ err, path: this.opts.path }, 'reflector handler failed');
      }
    }
  }

  private later(fn: () => void): void {
    if (this.stopped) return;
    this.timer = setTimeout(fn, this.opts.retryDelayMs ?? 100);
  }

  private async relist(): Promise<void> {
    if (this.stopped) return;
    let result: ListResult<T>;
    try {
      result = await this.opts.list();
    } catch (err) {
      this.opts.logger.debug({ err: String(err), path: this.opts.path }, 'list failed, retrying');
      this.later(() => void this.relist());
      return;
    }
    if (this.stopped) return;
    const seen = new Set<string>();
    for (const obj of result.items) {
      const key = objectKey(obj);
      seen.add(key);
      const old = this.items.get(key);
      this.items.set(key, obj);
      if (!old) this.emit('add', obj, undefined);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
    }
    for (const [key, old] of [...this.items]) {
      if (seen.has(key)) continue;
      this.items.delete(key);
      this.emit('delete', old, old);
    }
    this.resourceVersion = result.metadata?.resourceVersion ?? '';
    this.syncedResolve();
    await this.watch();
  }

  private async watch(): Promise<void> {
    if (this.stopped) return;
    const params: Record<string, string | boolean> = { resourceVersion: this.resourceVersion, allowWatchBookmarks: true };
    if (this.opts.labelSelector) params.labelSelector = this.opts.labelSelector;
    if (this.opts.fieldSelector) params.fieldSelector = this.opts.fieldSelector;
    let gone = false;
    const onEvent = (phase: string, obj: unknown): void => {
      if (phase === 'BOOKMARK') {
        const rv = (obj as ObjectWithMeta).metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        return;
      }
      if (phase === 'ERROR') {
        // A Status; 410 means our resourceVersion is too old: list again.
        if ((obj as { code?: number }).code === 410) gone = true;
        return;
      }
      const o = obj as T;
      const key = objectKey(o);
      const rv = o.metadata?.resourceVersion;
      if (rv) this.resourceVersion = rv;
      const old = this.items.get(key);
      if (phase === 'DELETED') {
        this.items.delete(key);
        this.emit('delete', o, old);
      } else {
        this.items.set(key, o);
        this.emit(old ? 'update' : 'add', o, old);
      }
    };
    const done = (err: unknown): void => {
      this.abort = undefined;
      if (this.stopped) return;
      if (gone || (err as { statusCode?: number } | null)?.statusCode === 410) {
        this.later(() => void this.relist());
      } else {
        // A watch ends normally on timeout or a dropped connection: resume where it stopped.
        this.later(() => void this.watch());
      }
    };
    try {
      this.abort = await new Watch(this.opts.kc).watch(this.opts.path, params, onEvent, done);
      if (this.stopped) this.abort.abort();
    } catch (err) {
      this.opts.logger.debug({ err: String(err), path: this.opts.path }, 'watch failed to start, listing again');
      this.later(() => void this.relist());
    }
  }
}
