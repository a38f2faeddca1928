// Watch streams: newline-delimited JSON events over a chunked response, resumable from a
// resourceVersion; a version older than the event log gets an ERROR event with a 410 Status,
// which is what client-node's informer expects before relisting. A streaming list
// (`sendInitialEvents=true`, what client-go's reflectors and kubectl 1.37 send) gets the current state
// as ADDED events and then a BOOKMARK annotated `k8s.io/initial-events-end`, as kube-apiserver sends:
// the client counts its cache as synced only on that bookmark.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { matchesAll, type Requirement } from './label-selector.js';
import { Errors } from './errors.js';
import type { ApiCore } from './operations.js';
import type { ResourceDef } from './resources.js';
import { fieldsMatch, type FieldRequirement } from './selectors.js';
import type { Store, StoreEvent } from './storage.js';

export interface WatchRequest {
  def: ResourceDef;
  version: string;
  namespace?: string | undefined;
  labelReqs: Requirement[];
  fieldReqs: FieldRequirement[];
  resourceVersion?: string | undefined;
  timeoutSeconds?: number | undefined;
  allowBookmarks: boolean;
  sendInitialEvents?: boolean;
}

export class WatchHub {
  private readonly open = new Set<ServerResponse>();

  constructor(
    private readonly store: Store,
    private readonly core: ApiCore,
  ) {}

  serve(req: IncomingMessage, res: ServerResponse, w: WatchRequest): void {
    const matches = (o: StoreEvent['stored']['obj']): boolean =>
      (w.namespace === undefined || !w.def.namespaced || o.metadata.namespace === w.namespace) &&
      (!w.labelReqs.length || matchesAll(w.labelReqs, o.metadata.labels)) &&
      (!w.fieldReqs.length || fieldsMatch(w.def, w.fieldReqs, o));
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    this.open.add(res);
    const send = (type: string, json: string): void => {
      res.write(`{"type":"${type}","object":${json}}\n`);
    };
    const sendEvent = (e: StoreEvent): void => {
      // A change that moves an object out of the selection is a DELETED for this watcher.
      const nowMatches = matches(e.stored.obj);
      const wasMatching = e.old !== undefined && matches(e.old);
      let type: string = e.type;
      if (e.type === 'MODIFIED') {
        if (!nowMatches && !wasMatching) return;
        if (nowMatches && !wasMatching) type = 'ADDED';
        if (!nowMatches && wasMatching) type = 'DELETED';
      } else if (!nowMatches && !(e.type === 'DELETED' && wasMatching)) return;
      send(type, this.core.outputJson(w.def, w.version, e.stored));
    };

    const bookmarkJson = (annotations?: Record<string, string>): string =>
      JSON.stringify({
        kind: w.def.kind,
        apiVersion: w.def.group ? `${w.def.group}/${w.version}` : w.version,
        metadata: { resourceVersion: String(this.store.currentRv()), ...(annotations ? { annotations } : {}) },
      });
    const rvParam = w.resourceVersion;
    let sinceRv: number;
    // No version, or a streaming list (resourceVersionMatch=NotOlderThan: the state now is at least as
    // new as any version asked for): the current state as ADDED events, then changes.
    if (w.sendInitialEvents || rvParam === undefined || rvParam === '' || rvParam === '0') {
      for (const s of this.store.list(w.def, w.namespace)) if (matches(s.obj)) send('ADDED', this.core.outputJson(w.def, w.version, s));
      sinceRv = this.store.currentRv();
      if (w.sendInitialEvents) send('BOOKMARK', bookmarkJson({ 'k8s.io/initial-events-end': 'true' }));
    } else {
      sinceRv = Number(rvParam);
      if (!Number.isFinite(sinceRv)) {
        send('ERROR', JSON.stringify(Errors.badRequest(`invalid resource version "${rvParam}"`).toStatus()));
        this.end(res);
        return;
      }
      const backlog = this.store.eventsSince(w.def, sinceRv);
      if (backlog === 'expired') {
        send('ERROR', JSON.stringify(Errors.gone(`too old resource version: ${rvParam} (${this.store.currentRv()})`).toStatus()));
        this.end(res);
        return;
      }
      for (const e of backlog) sendEvent(e);
    }
    const unsubscribe = this.store.subscribe((e) => {
      if (e.def.group !== w.def.group || e.def.resource !== w.def.resource || e.rv <= sinceRv) return;
      sendEvent(e);
    });
    let bookmark: NodeJS.Timeout | undefined;
    if (w.allowBookmarks) {
      bookmark = setInterval(() => {
        send('BOOKMARK', bookmarkJson());
      }, 30_000);
      bookmark.unref();
    }
    const timer = w.timeoutSeconds && w.timeoutSeconds > 0 ? setTimeout(() => this.end(res), w.timeoutSeconds * 1000) : undefined;
    timer?.unref();
    const cleanup = (): void => {
      unsubscribe();
      if (bookmark) clearInterval(bookmark);
      if (timer) clearTimeout(timer);
      this.open.delete(res);
    };
    res.on('close', cleanup);
    req.on('close', cleanup);
  }

  private end(res: ServerResponse): void {
    this.open.delete(res);
    res.end();
  }

  closeAll(): void {
    for (const res of [...this.open]) {
      res.end();
      res.socket?.destroy();
    }
    this.open.clear();
  }
}
