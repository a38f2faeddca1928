// The twin's state file: what `startTwin(..., { statePath })` writes on close and while it runs, and
// restores from on the next start instead of seeding the scenario again, so a stopped rehearsal
// (`meshmove demo`, Ctrl-C) comes back with the cluster it had.
//
// It holds every object of the API server as stored (with resourceVersions), the resourceVersion
// counter, the DNS zone, the faults in force, the loopback URLs the Istio layer served at (so the
// restarted layer asks for the same ports, or the pods' endpoint annotations are rewritten), which
// root each sidecar had mounted, and the control planes' root CA certificates. Those are
// certificates only (public): the twin never signs anything with a root's key after creating it,
// and keeps no key. It is a local rehearsal file, written with mode 0600; do not point it at
// anything but a twin.
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import type { Logger } from '../logging/logger.js';
import type { KubeObject } from './apiserver/types.js';

export const TWIN_STATE_KIND = 'MeshmoveTwinState';
export const TWIN_STATE_VERSION = 1;

const objectSchema = z.looseObject({
  apiVersion: z.string().min(1),
  kind: z.string().min(1),
  metadata: z.looseObject({ name: z.string().min(1), resourceVersion: z.string().regex(/^\d+$/) }),
});

const stateHeaderSchema = z.object({
  kind: z.literal(TWIN_STATE_KIND),
  version: z.literal(TWIN_STATE_VERSION),
  scenario: z.string(),
  savedAt: z.string(),
  ports: z.object({ api: z.number().int().min(0), dns: z.number().int().min(0) }),
  resourceVersion: z.number().int().min(0),
  roots: z.array(z.object({ id: z.string().min(1), pem: z.string().includes('BEGIN CERTIFICATE') })),
  endpoints: z.record(z.string(), z.string()),
  mountedRoots: z.object({ pems: z.array(z.string()), pods: z.record(z.string(), z.number().int().min(0)) }),
  dns: z.array(z.object({ name: z.string(), type: z.literal('A'), address: z.string(), ttl: z.number().int().min(0) })),
  faults: z.object({ api: z.unknown(), istio: z.unknown() }),
});

export type TwinStateHeader = z.infer<typeof stateHeaderSchema>;
export interface TwinState extends TwinStateHeader {
  objects: KubeObject[];
}

export class TwinStateError extends Error {}

/** Reads and checks a state file; undefined when there is none. */
export async function readTwinState(path: string): Promise<TwinState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TwinStateError(`twin state ${path} is not valid JSON (${(err as Error).message}); delete it to start from the scenario`);
  }
  const header = stateHeaderSchema.safeParse(json);
  const objects = z.array(objectSchema).safeParse((json as { objects?: unknown } | null)?.objects);
  if (!header.success || !objects.success) {
    const issues = [...(header.error?.issues ?? []), ...(objects.error?.issues.map((i) => ({ ...i, path: ['objects', ...i.path] })) ?? [])];
    throw new TwinStateError(
      `twin state ${path} is not a meshmove twin state file: ${issues
        .slice(0, 5)
        .map((i) => `${i.path.join('.')}: ${i.message}`)
        .join('; ')}`,
    );
  }
  return { ...header.data, objects: objects.data as unknown as KubeObject[] };
}

/** What a snapshot is made of; objects come as their stored JSON text (no re-serialization). */
export interface TwinStateParts extends Omit<TwinStateHeader, 'kind' | 'version' | 'savedAt'> {
  objectsJson: string[];
}

/** Writes the state atomically (a temp file renamed over the old one): a crash never leaves half a file. */
export async function writeTwinState(path: string, parts: TwinStateParts): Promise<void> {
  const { objectsJson, ...rest } = parts;
  const header: TwinStateHeader = { kind: TWIN_STATE_KIND, version: TWIN_STATE_VERSION, savedAt: new Date().toISOString(), ...rest };
  const head = JSON.stringify(header);
  const text = `${head.slice(0, -1)},"objects":[\n${objectsJson.join(',\n')}\n]}\n`;
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export interface StateSaverOptions {
  /** Save once nothing changed for this long (default 1 s). */
  quietMs?: number;
  /** ...but never later than this after the first unsaved change (default 5 s). */
  maxDelayMs?: number;
  logger: Logger;
}

/**
 * Saves after changes: once they go quiet, and at least every maxDelayMs while they keep coming,
 * so a SIGKILL loses at most a few seconds. One save at a time; changes during a save schedule
 * another.
 */
export class StateSaver {
  private dirtySince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;
  private stopped = false;
  saves = 0;

  constructor(
    private readonly save: () => Promise<void>,
    private readonly o: StateSaverOptions,
  ) {}

  markDirty(): void {
    if (this.stopped) return;
    const now = Date.now();
    this.dirtySince ??= now;
    const quiet = this.o.quietMs ?? 1000;
    const latest = this.dirtySince + (this.o.maxDelayMs ?? 5000);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.flush();
      },
      Math.max(0, Math.min(quiet, latest - now)),
    );
    this.timer.unref();
  }

  /** Saves now (after any save in progress); errors are logged, not thrown. */
  async flush(): Promise<void> {
    while (this.saving) await this.saving;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.dirtySince = undefined;
    this.saving = this.save()
      .then(
        () => {
          this.saves++;
        },
        (err: unknown) => {
          this.o.logger.warn({ err: String(err) }, 'saving the twin state failed');
        },
      )
      .finally(() => {
        this.saving = undefined;
      });
    await this.saving;
  }

  /** No more scheduled saves; the caller does the final flush. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Root pems deduplicated: the table and each pod's index into it. */
export function packMounted(mounted: ReadonlyMap<string, string>): TwinStateHeader['mountedRoots'] {
  const pems: string[] = [];
  const index = new Map<string, number>();
  const pods: Record<string, number> = {};
  for (const [pod, pem] of mounted) {
    let i = index.get(pem);
    if (i === undefined) {
      i = pems.length;
      pems.push(pem);
      index.set(pem, i);
    }
    pods[pod] = i;
  }
  return { pems, pods };
}

export function unpackMounted(m: TwinStateHeader['mountedRoots']): Map<string, string> {
  const out = new Map<string, string>();
  for (const [pod, i] of Object.entries(m.pods)) {
    const pem = m.pems[i];
    if (pem !== undefined) out.set(pod, pem);
  }
  return out;
}
