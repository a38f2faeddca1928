// Per-pod, per-container log buffers: the kubelet stand-in writes lifecycle lines, other
// in-process components append their own (ApiServer.appendPodLog or POST /_twin/pods/NS/NAME/log).
import { EventEmitter } from 'node:events';

const MAX_LINES = 5000;

export class PodLogs {
  private readonly buffers = new Map<string, string[]>();
  private readonly events = new EventEmitter();

  constructor() {
    this.events.setMaxListeners(0);
  }

  private key(ns: string, pod: string, container: string): string {
    return `${ns}/${pod}/${container}`;
  }

  append(ns: string, pod: string, container: string, text: string): void {
    const k = this.key(ns, pod, container);
    const buf = this.buffers.get(k) ?? [];
    const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
    const stamp = new Date().toISOString();
    for (const l of lines) buf.push(`${stamp} ${l}`);
    if (buf.length > MAX_LINES) buf.splice(0, buf.length - MAX_LINES);
    this.buffers.set(k, buf);
    this.events.emit(
      k,
      lines.map((l) => `${stamp} ${l}`),
    );
  }

  /** Lines with their RFC3339 timestamp prefix. */
  read(ns: string, pod: string, container: string): string[] {
    return [...(this.buffers.get(this.key(ns, pod, container)) ?? [])];
  }

  follow(ns: string, pod: string, container: string, fn: (lines: string[]) => void): () => void {
    const k = this.key(ns, pod, container);
    this.events.on(k, fn);
    return () => this.events.off(k, fn);
  }

  /** Drops a deleted pod's buffers. */
  forget(ns: string, pod: string): void {
    const prefix = `${ns}/${pod}/`;
    for (const k of [...this.buffers.keys()]) if (k.startsWith(prefix)) this.buffers.delete(k);
  }
}
