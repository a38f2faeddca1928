// HTTP routing: paths → (group, version, resource, namespace, name, subresource) → verb; faults and
// counters around every API request; JSON bodies and Status errors as the real apiserver sends them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import type { Logger } from '../../logging/logger.js';
import type { RequestCounters } from './counters.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersions, KUBE_VERSION } from './discovery.js';
import { ApiError, Errors } from './errors.js';
import { FaultConfigSchema, type FaultController } from './faults.js';
import { parseLabelSelector } from './label-selector.js';
import type { PodLogs } from './logs.js';
import { PATCH_TYPES, type ApiCore, type DeleteOptions } from './operations.js';
import type { Authorization, RequestAttributes } from './rbac.js';
import type { PodNetwork } from './podnetwork.js';
import type { PortForwarder } from './portforward.js';
import { forward, podTarget, serviceTarget } from './proxy.js';
import { apiVersionOf, type ResourceDef, type ResourceRegistry } from './resources.js';
import { parseFieldSelector } from './selectors.js';
import type { Stored } from './storage.js';
import { toTable } from './tables.js';
import { isPlainObject, type KubeObject, type Verb, jsonClone } from './types.js';
import type { WatchHub } from './watch.js';

export type ControlHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void | Promise<void>;

interface ResourceRoute {
  def: ResourceDef;
  group: string;
  version: string;
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
  /** Path after the subresource (proxy). */
  rest: string;
}

type Route =
  | { kind: 'groupversion'; group: string; version: string }
  | { kind: 'group'; group: string }
  | { kind: 'resource'; route: ResourceRoute }
  | { kind: 'unknown' };

export interface HttpDeps {
  registry: ResourceRegistry;
  core: ApiCore;
  watches: WatchHub;
  counters: RequestCounters;
  faults: FaultController;
  logs: PodLogs;
  network: PodNetwork;
  portForwarder: PortForwarder;
  serverAddress: () => string;
  logger: Logger;
  auth: Authorization;
}

export function sendJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, e: unknown): void {
  const err = e instanceof ApiError ? e : Errors.internal(e instanceof Error ? e.message : String(e));
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.code, err.toStatus(), err.headers);
}

export function readBody(req: IncomingMessage, limit = 8 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export class HttpApi {
  private readonly controlRoutes = new Map<string, ControlHandler>();

  constructor(private readonly d: HttpDeps) {
    this.registerBuiltinControlRoutes();
  }

  registerControlRoute(method: string, path: string, handler: ControlHandler): void {
    const p = path.startsWith('/_twin/') ? path : `/_twin${path.startsWith('/') ? '' : '/'}${path}`;
    this.controlRoutes.set(`${method.toUpperCase()} ${p}`, handler);
  }

  parseRoute(pathname: string): Route {
    const segs = pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 2) {
      group = '';
      version = segs[1]!;
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length === 2) return { kind: 'group', group: segs[1]! };
    else if (segs[0] === 'apis' && segs.length >= 3) {
      group = segs[1]!;
      version = segs[2]!;
      rest = segs.slice(3);
    } else return { kind: 'unknown' };
    if (rest.length === 0) return { kind: 'groupversion', group, version };
    // Raw (still encoded) path segments, for the proxy subresource's remaining path.
    const rawSegs = pathname.split('/').filter((s) => s !== '');
    const offset = rawSegs.length - rest.length;
    const lookup = (r: string): ResourceDef | undefined => this.d.registry.lookup(group, version, r);
    let route: ResourceRoute | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3 && lookup(rest[2]!)?.namespaced) {
      route = {
        def: lookup(rest[2]!)!,
        group,
        version,
        namespace: rest[1],
        name: rest[3],
        subresource: rest[4],
        rest: rawSegs.slice(offset + 5).join('/'),
      };
    } else {
      const def = lookup(rest[0]!);
      if (!def) return { kind: 'unknown' };
      if (def.namespaced && rest.length > 1) return { kind: 'unknown' };
      route = { def, group, version, name: rest[1], subresource: rest[2], rest: rawSegs.slice(offset + 3).join('/') };
    }
    if (route.subresource && !route.def.subresources.includes(route.subresource)) return { kind: 'unknown' };
    if (route.subresource !== 'proxy' && route.rest !== '') return { kind: 'unknown' };
    return { kind: 'resource', route };
  }

  /** Throws the 401 or 403 kube-apiserver would answer for this request. */
  private authorize(req: IncomingMessage, a: RequestAttributes, verbs?: readonly string[]): void {
    const denied = this.d.auth.check(req.headers.authorization, a, verbs);
    if (!denied) return;
    if (denied.code === 401) throw Errors.unauthorized();
    // NewForbidden names the resource without its subresource; the reason names both.
    throw Errors.forbidden(a.group, a.resource, a.name ?? '', denied.message);
  }

  private verbOf(method: string, r: ResourceRoute, q: URLSearchParams): Verb | undefined {
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    if (r.subresource === 'proxy' || r.subresource === 'log' || r.subresource === 'portforward') {
      return method === 'GET'
        ? 'get'
        : method === 'POST'
          ? 'create'
          : method === 'PUT'
            ? 'update'
            : method === 'PATCH'
              ? 'patch'
              : method === 'DELETE'
                ? 'delete'
                : undefined;
    }
    if (r.name === undefined) {
      if (method === 'GET') return watch ? 'watch' : 'list';
      if (method === 'POST') return 'create';
      if (method === 'DELETE') return 'deletecollection';
      return undefined;
    }
    if (method === 'GET') return watch ? 'watch' : 'get';
    if (method === 'PUT') return 'update';
    if (method === 'PATCH') return 'patch';
    if (method === 'DELETE') return 'delete';
    return undefined;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://twin.local');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    try {
      if (path.startsWith('/_twin/')) return await this.control(req, res, method, path);
      switch (path) {
        case '/version':
          return sendJson(res, 200, KUBE_VERSION);
        case '/healthz':
        case '/readyz':
        case '/livez':
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.end('ok');
          return;
        case '/api':
          return sendJson(res, 200, apiVersions(this.d.serverAddress()));
        case '/apis':
          return sendJson(res, 200, apiGroupList(this.d.registry));
        default:
          break;
      }
      const route = this.parseRoute(path);
      if (route.kind === 'unknown') throw Errors.unknownResource();
      if (route.kind === 'group') {
        const doc = apiGroup(this.d.registry, route.group);
        if (!doc) throw Errors.unknownResource();
        return sendJson(res, 200, doc);
      }
      if (route.kind === 'groupversion') {
        const doc = apiResourceList(this.d.registry, route.group, route.version);
        if (!doc) throw Errors.unknownResource();
        return sendJson(res, 200, doc);
      }
      const r = route.route;
      const verb = this.verbOf(method, r, url.searchParams);
      if (!verb) throw Errors.methodNotAllowed();
      // RequestInfo: a request for a namespace object is in that namespace (RoleBindings there apply).
      const inNamespace = r.def.group === '' && r.def.resource === 'namespaces' && r.name !== undefined ? r.name : r.namespace;
      this.authorize(req, {
        verb,
        group: r.def.group,
        resource: r.def.resource,
        subresource: r.subresource,
        namespace: inNamespace,
        name: r.name,
      });
      const resourcePath = resourcePathOf(r);
      const fault = this.d.faults.decide({
        verb,
        group: r.def.group,
        resource: r.def.resource,
        subresource: r.subresource,
        namespace: r.namespace,
        name: r.name,
      });
      if (fault) {
        if (fault.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
        else {
          this.d.counters.recordFaulted(verb, resourcePath);
          if (fault.kind === 'drop') {
            req.socket.destroy();
            return;
          }
          if (fault.kind === 'status') throw statusFault(fault.status, fault.retryAfterSeconds ?? 1, r);
          loseResponse(res);
        }
      }
      this.d.counters.record(
        verb,
        resourcePath,
        r.name === undefined ? undefined : objectPathOf(r.namespace, r.name),
        this.d.auth.userOf(req.headers.authorization),
      );
      const body = method === 'GET' ? Buffer.alloc(0) : await readBody(req);
      await this.dispatch(req, res, verb, r, url.searchParams, body);
    } catch (e) {
      if (!(e instanceof ApiError)) this.d.logger.error({ err: e, path, method }, 'request failed');
      sendError(res, e);
    }
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    verb: Verb,
    r: ResourceRoute,
    q: URLSearchParams,
    body: Buffer,
  ): Promise<void> {
    const { core } = this.d;
    const ns = r.namespace ?? '';
    const dryRun = q.getAll('dryRun').includes('All');
    if (q.getAll('dryRun').some((v) => v !== 'All')) throw Errors.badRequest(`Invalid dry run value: ${q.getAll('dryRun').join(',')}`);
    const writeOpts = { dryRun, fieldManager: q.get('fieldManager') ?? undefined, force: q.get('force') === 'true' };
    const sub = r.subresource;
    if (sub === 'proxy') return this.proxy(req, res, r, q, body);
    if (sub === 'log') return this.podLog(res, r, q);
    if (sub === 'portforward') throw Errors.badRequest('Upgrade request required');
    if (sub === 'scale') return this.scale(req, res, verb, r, body, writeOpts);
    const applied = (obj: KubeObject): void => {
      if (!dryRun) this.d.counters.recordApplied(verb, resourcePathOf(r), objectPathOf(obj.metadata.namespace, obj.metadata.name!));
    };
    // Read synchronously just before the write: nothing can interleave before the write reads it too.
    const rvBefore = (): number | undefined => (r.name === undefined ? undefined : core.store.get(r.def, ns, r.name)?.rv);
    switch (verb) {
      case 'get': {
        const s = core.get(r.def, ns, r.name!);
        if (/as=Table/.test(req.headers.accept ?? ''))
          return sendJson(res, 200, toTable(r.def, [s.obj], String(s.rv), q.get('includeObject') ?? 'Metadata'));
        return sendJson(res, 200, core.outputJson(r.def, r.version, s));
      }
      case 'list':
        return this.list(req, res, r, q);
      case 'watch': {
        const fieldSel = q.get('fieldSelector') ?? (r.name ? `metadata.name=${r.name}` : '');
        let labelReqs;
        try {
          labelReqs = parseLabelSelector(q.get('labelSelector') ?? '');
        } catch (e) {
          throw Errors.badRequest((e as Error).message);
        }
        this.d.watches.serve(req, res, {
          def: r.def,
          version: r.version,
          namespace: r.namespace,
          labelReqs,
          fieldReqs: parseFieldSelector(r.def, fieldSel),
          resourceVersion: q.get('resourceVersion') ?? undefined,
          timeoutSeconds: q.has('timeoutSeconds') ? Number(q.get('timeoutSeconds')) : undefined,
          allowBookmarks: q.get('allowWatchBookmarks') === 'true',
          sendInitialEvents: q.get('sendInitialEvents') === 'true',
        });
        return;
      }
      case 'create': {
        const s = await core.create(r.def, r.version, ns, decodeBody(req, body), writeOpts);
        applied(s.obj);
        return sendJson(res, 201, core.outputJson(r.def, r.version, s));
      }
      case 'update': {
        if (sub === 'finalize') {
          const s = core.get(r.def, ns, r.name!);
          return sendJson(res, 200, core.outputJson(r.def, r.version, s));
        }
        const before = rvBefore();
        const s = await core.update(r.def, r.version, ns, r.name!, decodeBody(req, body), sub, writeOpts);
        if (s.rv !== before) applied(s.obj);
        return sendJson(res, 200, core.outputJson(r.def, r.version, s));
      }
      case 'patch': {
        const before = rvBefore();
        const { stored, created } = await core.patch(
          r.def,
          r.version,
          ns,
          r.name!,
          req.headers['content-type'] ?? '',
          body,
          sub,
          writeOpts,
        );
        if (created || stored.rv !== before) applied(stored.obj);
        return sendJson(res, created ? 201 : 200, core.outputJson(r.def, r.version, stored));
      }
      case 'delete': {
        const opts = deleteOptions(body, q);
        opts.dryRun = dryRun;
        const gone = core.delete(r.def, r.version, ns, r.name!, opts);
        if (!dryRun) this.d.counters.recordApplied(verb, resourcePathOf(r), objectPathOf(r.namespace, r.name!));
        return sendJson(res, 200, gone);
      }
      case 'deletecollection': {
        const items = core.list(r.def, r.namespace, {
          labelSelector: q.get('labelSelector') ?? undefined,
          fieldSelector: q.get('fieldSelector') ?? undefined,
        });
        const opts = deleteOptions(body, q);
        opts.dryRun = dryRun;
        const deleted: unknown[] = [];
        for (const s of items) {
          try {
            deleted.push(core.delete(r.def, r.version, s.obj.metadata.namespace ?? '', s.obj.metadata.name!, opts));
          } catch (e) {
            if (!(e instanceof ApiError && e.code === 404)) throw e;
          }
        }
        return sendJson(res, 200, {
          kind: r.def.listKind,
          apiVersion: apiVersionOf(r.def, r.version),
          metadata: { resourceVersion: String(core.store.currentRv()) },
          items: deleted.filter((o) => isPlainObject(o) && o.kind !== 'Status'),
        });
      }
    }
  }

  private list(req: IncomingMessage, res: ServerResponse, r: ResourceRoute, q: URLSearchParams): void {
    const { core } = this.d;
    let items: Stored[] = core.list(r.def, r.namespace, {
      labelSelector: q.get('labelSelector') ?? undefined,
      fieldSelector: q.get('fieldSelector') ?? undefined,
    });
    const rv = String(core.store.currentRv());
    // limit/continue: the continue token is the last returned key; pages are served from the current state.
    const cont = q.get('continue');
    if (cont) {
      let after: string;
      try {
        after = (JSON.parse(Buffer.from(cont, 'base64url').toString('utf8')) as { k: string }).k;
      } catch {
        throw Errors.badRequest('continue key is not valid: illegal base64 data');
      }
      items = items.filter((s) => `${s.obj.metadata.namespace ?? ''}\u0000${s.obj.metadata.name!}` > after);
    }
    const limit = Number(q.get('limit') ?? 0);
    let next: string | undefined;
    let remaining: number | undefined;
    if (limit > 0 && items.length > limit) {
      remaining = items.length - limit;
      items = items.slice(0, limit);
      const last = items[items.length - 1]!.obj;
      next = Buffer.from(JSON.stringify({ k: `${last.metadata.namespace ?? ''}\u0000${last.metadata.name!}`, rv })).toString('base64url');
    }
    const accept = req.headers.accept ?? '';
    if (/as=Table/.test(accept)) {
      const objs = items.map((s) => s.obj as KubeObject);
      return sendJson(res, 200, toTable(r.def, objs, rv, q.get('includeObject') ?? 'Metadata', next));
    }
    const meta = JSON.stringify({ resourceVersion: rv, ...(next ? { continue: next, remainingItemCount: remaining } : {}) });
    // Streamed in ~256 KiB chunks from each object's cached JSON: no full-size string is built.
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
    let chunk = `{"kind":"${r.def.listKind}","apiVersion":"${apiVersionOf(r.def, r.version)}","metadata":${meta},"items":[`;
    for (let i = 0; i < items.length; i++) {
      chunk += (i > 0 ? ',' : '') + core.outputJson(r.def, r.version, items[i]!);
      if (chunk.length > 262_144) {
        res.write(chunk);
        chunk = '';
      }
    }
    res.end(`${chunk}]}`);
  }

  private async proxy(req: IncomingMessage, res: ServerResponse, r: ResourceRoute, q: URLSearchParams, body: Buffer): Promise<void> {
    const ns = r.namespace ?? '';
    const search = q.toString();
    const path = `/${r.rest}${search ? `?${search}` : ''}`;
    let t;
    if (r.def.resource === 'services') t = serviceTarget(this.d.network, ns, r.name!);
    else {
      const [podName] = r.name!.split(':').length === 3 ? [r.name!.split(':')[1]!] : [r.name!.split(':')[0]!];
      const pod = this.d.core.get(r.def, ns, podName).obj;
      t = podTarget(pod, r.name!);
    }
    await forward(req, res, body, t.target, path, t.scheme);
  }

  private podLog(res: ServerResponse, r: ResourceRoute, q: URLSearchParams): void {
    const ns = r.namespace ?? '';
    const pod = this.d.core.get(r.def, ns, r.name!).obj;
    const containers = ((pod.spec?.containers ?? []) as Array<{ name: string }>).map((c) => c.name);
    const initContainers = ((pod.spec?.initContainers ?? []) as Array<{ name: string }>).map((c) => c.name);
    let container = q.get('container') ?? '';
    if (!container) {
      if (containers.length !== 1)
        throw Errors.badRequest(
          `a container name must be specified for pod ${r.name!}, choose one of: [${containers.join(' ')}]${initContainers.length ? ` or one of the init containers: [${initContainers.join(' ')}]` : ''}`,
        );
      container = containers[0]!;
    } else if (!containers.includes(container) && !initContainers.includes(container)) {
      throw Errors.badRequest(`container ${container} is not valid for pod ${r.name!}`);
    }
    const stamps = q.get('timestamps') === 'true';
    const fmt = (lines: string[]): string =>
      lines
        .map((l) => (stamps ? l : l.slice(l.indexOf(' ') + 1)))
        .map((l) => `${l}\n`)
        .join('');
    let lines = this.d.logs.read(ns, r.name!, container);
    const tail = q.get('tailLines');
    if (tail !== null && Number(tail) >= 0) lines = Number(tail) === 0 ? [] : lines.slice(-Number(tail));
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    if (q.get('follow') !== 'true') {
      res.end(fmt(lines));
      return;
    }
    res.write(fmt(lines));
    const stop = this.d.logs.follow(ns, r.name!, container, (more) => res.write(fmt(more)));
    res.on('close', stop);
  }

  private async scale(
    req: IncomingMessage,
    res: ServerResponse,
    verb: Verb,
    r: ResourceRoute,
    body: Buffer,
    writeOpts: { dryRun: boolean; fieldManager?: string | undefined },
  ): Promise<void> {
    const { core } = this.d;
    const ns = r.namespace ?? '';
    const toScale = (s: Stored): object => {
      const o = s.obj;
      const sel = (o.spec?.selector ?? {}) as { matchLabels?: Record<string, string> };
      return {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: {
          name: o.metadata.name,
          namespace: o.metadata.namespace,
          uid: o.metadata.uid,
          resourceVersion: o.metadata.resourceVersion,
          creationTimestamp: o.metadata.creationTimestamp,
        },
        spec: { replicas: o.spec?.replicas ?? 0 },
        status: {
          replicas: (o.status?.replicas as number | undefined) ?? 0,
          selector: Object.entries(sel.matchLabels ?? {})
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        },
      };
    };
    const cur = core.get(r.def, ns, r.name!);
    if (verb === 'get') return sendJson(res, 200, toScale(cur));
    let replicas: unknown;
    if (verb === 'update') replicas = (decodeBody(req, body) as { spec?: { replicas?: unknown } }).spec?.replicas;
    else if (verb === 'patch') {
      const { jsonPatch, mergePatch } = await import('./patch.js');
      const type = (req.headers['content-type'] ?? '').split(';')[0]!;
      const patchDoc: unknown = JSON.parse(body.toString('utf8'));
      const patched = (type === PATCH_TYPES.json ? jsonPatch(toScale(cur), patchDoc) : mergePatch(toScale(cur), patchDoc)) as {
        spec?: { replicas?: unknown };
      };
      replicas = patched.spec?.replicas;
    } else throw Errors.methodNotAllowed();
    const next = jsonClone(cur.obj);
    next.spec = { ...(next.spec ?? {}), replicas };
    const s = await core.update(r.def, r.version, ns, r.name!, next, undefined, writeOpts);
    sendJson(res, 200, toScale(s));
  }

  /** WebSocket upgrades: pods/portforward only. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://twin.local');
    const reject = (e: ApiError): void => {
      const body = JSON.stringify(e.toStatus());
      socket.end(
        `HTTP/1.1 ${e.code} ${e.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    };
    try {
      const route = this.parseRoute(url.pathname);
      if (route.kind !== 'resource' || route.route.subresource !== 'portforward') {
        reject(Errors.unknownResource());
        return;
      }
      const r = route.route;
      // The WebSocket handshake is a GET; kube-apiserver (KEP-4006) also requires `create`.
      this.authorize(req, { verb: 'get', group: '', resource: 'pods', subresource: 'portforward', namespace: r.namespace, name: r.name }, [
        'get',
        'create',
      ]);
      const fault = this.d.faults.decide({
        verb: 'create',
        group: '',
        resource: 'pods',
        subresource: 'portforward',
        namespace: r.namespace,
        name: r.name,
      });
      if (fault && fault.kind !== 'delay') {
        this.d.counters.recordFaulted('create', 'pods/portforward');
        // A port-forward changes nothing: a lost answer is a dropped connection.
        if (fault.kind === 'drop' || fault.kind === 'lose-response') {
          socket.destroy();
          return;
        }
        reject(statusFault(fault.status, fault.retryAfterSeconds ?? 1, r));
        return;
      }
      this.d.counters.record(
        'create',
        'pods/portforward',
        `${r.namespace ?? ''}/${r.name ?? ''}`,
        this.d.auth.userOf(req.headers.authorization),
      );
      const pod = this.d.core.get(r.def, r.namespace ?? '', r.name!).obj;
      if ((pod.status as { phase?: string } | undefined)?.phase !== 'Running') {
        reject(Errors.badRequest(`pod ${r.name!} is not running`));
        return;
      }
      const ports = url.searchParams
        .getAll('ports')
        .flatMap((p) => p.split(','))
        .map((p) => Number(p));
      if (!ports.length || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
        reject(Errors.badRequest('invalid port: ports must be between 1 and 65535'));
        return;
      }
      this.d.portForwarder.handle(req, socket, head, pod, ports);
    } catch (e) {
      reject(e instanceof ApiError ? e : Errors.internal(String(e)));
    }
  }

  private async control(req: IncomingMessage, res: ServerResponse, method: string, path: string): Promise<void> {
    const handler =
      this.controlRoutes.get(`${method} ${path}`) ??
      [...this.controlRoutes.entries()].find(([k]) => k.endsWith('*') && `${method} ${path}`.startsWith(k.slice(0, -1)))?.[1];
    if (!handler) throw Errors.unknownResource();
    const body = await readBody(req);
    await handler(req, res, body);
  }

  private registerBuiltinControlRoutes(): void {
    this.registerControlRoute('GET', '/_twin/faults', (_req, res) => sendJson(res, 200, this.d.faults.get()));
    this.registerControlRoute('PUT', '/_twin/faults', (_req, res, body) => {
      const parsed = FaultConfigSchema.safeParse(JSON.parse(body.toString('utf8') || '{}'));
      if (!parsed.success) throw Errors.badRequest(`invalid fault configuration: ${parsed.error.message}`);
      this.d.faults.set(parsed.data);
      sendJson(res, 200, this.d.faults.get());
    });
    this.registerControlRoute('GET', '/_twin/requests', (_req, res) => sendJson(res, 200, this.d.counters.snapshot()));
    this.registerControlRoute('DELETE', '/_twin/requests', (_req, res) => {
      this.d.counters.reset();
      sendJson(res, 200, this.d.counters.snapshot());
    });
    // POST /_twin/pods/NS/NAME/log[?container=C]: append text to a pod's log.
    this.registerControlRoute('POST', '/_twin/pods/*', (req, res, body) => {
      const url = new URL(req.url ?? '/', 'http://twin.local');
      const m = /^\/_twin\/pods\/([^/]+)\/([^/]+)\/log$/.exec(url.pathname);
      if (!m) throw Errors.unknownResource();
      const pod = this.d.core.get(this.d.registry.get('', 'pods')!, m[1]!, m[2]!).obj;
      const container = url.searchParams.get('container') ?? ((pod.spec?.containers ?? []) as Array<{ name: string }>)[0]?.name ?? '';
      this.d.logs.append(m[1]!, m[2]!, container, body.toString('utf8'));
      res.writeHead(204);
      res.end();
    });
  }
}

function resourcePathOf(r: ResourceRoute): string {
  return `${r.def.group ? `${r.def.group}/` : ''}${r.def.resource}${r.subresource ? `/${r.subresource}` : ''}`;
}

function objectPathOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Carry the request out but never answer: the first byte of the response closes the connection instead. */
function loseResponse(res: ServerResponse): void {
  const cut = (): ServerResponse => {
    res.socket?.destroy();
    return res;
  };
  res.writeHead = cut as unknown as ServerResponse['writeHead'];
  res.write = ((): boolean => {
    cut();
    return false;
  }) as unknown as ServerResponse['write'];
  res.end = cut as unknown as ServerResponse['end'];
}

function statusFault(status: number, retryAfterSeconds: number, r: ResourceRoute): ApiError {
  switch (status) {
    case 429:
      return Errors.tooManyRequests(retryAfterSeconds);
    case 409:
      return Errors.conflict(
        r.def.group,
        r.def.resource,
        r.name ?? '',
        'the object has been modified; please apply your changes to the latest version and try again',
      );
    case 503:
      return Errors.serviceUnavailable('the server is currently unable to handle the request');
    default:
      return Errors.internal('injected fault');
  }
}

function decodeBody(req: IncomingMessage, body: Buffer): unknown {
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim().toLowerCase();
  const text = body.toString('utf8');
  if (type === 'application/json' || type === '') {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw Errors.badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
    }
  }
  if (type === 'application/yaml') {
    try {
      return parseYaml(text);
    } catch (e) {
      throw Errors.badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
    }
  }
  throw Errors.unsupportedMediaType(type, ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf']);
}

function deleteOptions(body: Buffer, q: URLSearchParams): DeleteOptions {
  let opts: DeleteOptions = {};
  if (body.length) {
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8'));
      if (isPlainObject(parsed)) opts = parsed as DeleteOptions;
    } catch {
      throw Errors.badRequest('the body of the request could not be decoded as DeleteOptions');
    }
  }
  const pp = q.get('propagationPolicy');
  if (pp) opts.propagationPolicy = pp;
  if (opts.propagationPolicy && !['Orphan', 'Background', 'Foreground'].includes(opts.propagationPolicy))
    throw Errors.badRequest(`propagationPolicy: Unsupported value: "${opts.propagationPolicy}"`);
  return opts;
}
