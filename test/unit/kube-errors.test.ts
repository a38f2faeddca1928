import { describe, expect, it } from 'vitest';
import { ApplicationFailure } from '@temporalio/common';
import {
  classifyKubeError,
  kubeFailure,
  missingPermission,
  mustExist,
  parseRetryAfter,
  KubeErrorType,
  type KubeCallTarget,
} from '../../activities/kube/errors.js';

const patchNs: KubeCallTarget = { verb: 'patch', resource: 'namespaces', group: '', name: 'orders' };
const status = (code: number, reason: string, message: string, extra: object = {}) => ({
  code,
  body: JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code, ...extra }),
  headers: {},
});

describe('classifyKubeError', () => {
  const cases: { name: string; err: unknown; type: string; retryable: boolean; retryAfterMs?: number; contains?: string }[] = [
    {
      name: '401',
      err: status(401, 'Unauthorized', 'Unauthorized'),
      type: KubeErrorType.unauthorized,
      retryable: false,
      contains: 'credentials',
    },
    {
      name: '403 names the permission',
      err: status(403, 'Forbidden', 'namespaces "orders" is forbidden'),
      type: KubeErrorType.forbidden,
      retryable: false,
      contains: 'missing permission: patch namespaces (apiGroup "") cluster-wide',
    },
    { name: '404', err: status(404, 'NotFound', 'namespaces "orders" not found'), type: KubeErrorType.notFound, retryable: false },
    { name: '409 AlreadyExists', err: status(409, 'AlreadyExists', 'exists'), type: KubeErrorType.alreadyExists, retryable: false },
    {
      name: '409 Conflict',
      err: status(409, 'Conflict', 'the object has been modified'),
      type: KubeErrorType.conflict,
      retryable: true,
      contains: 're-read',
    },
    {
      name: '422',
      err: status(422, 'Invalid', 'bad label', { details: { causes: [{ field: 'metadata.labels', message: 'invalid value' }] } }),
      type: KubeErrorType.invalid,
      retryable: false,
      contains: 'metadata.labels invalid value',
    },
    {
      name: '415',
      err: status(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format'),
      type: KubeErrorType.badRequest,
      retryable: false,
    },
    {
      name: '429 Retry-After header',
      err: { ...status(429, 'TooManyRequests', 'slow down'), headers: { 'Retry-After': '3' } },
      type: KubeErrorType.throttled,
      retryable: true,
      retryAfterMs: 3000,
    },
    {
      name: '429 retryAfterSeconds in body',
      err: status(429, 'TooManyRequests', 'slow down', { details: { retryAfterSeconds: 2 } }),
      type: KubeErrorType.throttled,
      retryable: true,
      retryAfterMs: 2000,
    },
    { name: '500', err: status(500, 'InternalError', 'etcd timeout'), type: KubeErrorType.serverError, retryable: true },
    {
      name: '503 plain text body',
      err: { code: 503, body: 'upstream unavailable', headers: {} },
      type: KubeErrorType.serverError,
      retryable: true,
      contains: 'upstream unavailable',
    },
    {
      name: 'ECONNRESET',
      err: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
      type: KubeErrorType.network,
      retryable: true,
      contains: 'ECONNRESET',
    },
    {
      name: 'fetch system error',
      err: Object.assign(new Error('request to http://127.0.0.1:1/api failed, reason: connect ECONNREFUSED'), {
        type: 'system',
        code: 'ECONNREFUSED',
      }),
      type: KubeErrorType.network,
      retryable: true,
    },
    {
      name: 'abort = timeout',
      err: Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }),
      type: KubeErrorType.timeout,
      retryable: true,
    },
    {
      name: 'client-side misconfiguration',
      err: new Error('HTTP protocol is not allowed when skipTLSVerify is not set or false'),
      type: KubeErrorType.client,
      retryable: false,
    },
    { name: 'websocket 403', err: new Error('Unexpected server response: 403'), type: KubeErrorType.forbidden, retryable: false },
    {
      // A refused port-forward upgrade, as the WebSocket's error event carries it (client-node
      // rejects with the event): the Status body the apiserver sent is the reason.
      name: 'websocket 500 with the Status body, inside an error event',
      err: {
        type: 'error',
        message: 'Unexpected server response: 500',
        error: Object.assign(
          new Error('Unexpected server response: 500'),
          status(500, '', 'error dialing backend: dial tcp 127.0.0.1:10250: connect: connection refused'),
        ),
      },
      type: KubeErrorType.serverError,
      retryable: true,
      contains: 'server error 500: error dialing backend: dial tcp 127.0.0.1:10250: connect: connection refused',
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const got = classifyKubeError(c.err, patchNs);
      expect(got.type).toBe(c.type);
      expect(got.retryable).toBe(c.retryable);
      if (c.retryAfterMs !== undefined) expect(got.retryAfterMs).toBe(c.retryAfterMs);
      if (c.contains) expect(got.message).toContain(c.contains);
    });
  }
});

describe('kubeFailure', () => {
  it('carries Retry-After as nextRetryDelay and the type', () => {
    const f = kubeFailure({ type: KubeErrorType.throttled, retryable: true, retryAfterMs: 3000, status: 429, message: 'x' });
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.type).toBe('KubeThrottled');
    expect(f.nonRetryable).toBe(false);
    expect(f.nextRetryDelay).toBe(3000);
  });
  it('non-retryable for forbidden, no delay', () => {
    const f = kubeFailure({ type: KubeErrorType.forbidden, retryable: false, status: 403, message: 'x' });
    expect(f.nonRetryable).toBe(true);
    expect(f.nextRetryDelay).toBeUndefined();
  });
});

describe('missingPermission and retry-after parsing', () => {
  it('namespaced subresource', () => {
    expect(
      missingPermission({
        verb: 'portforward',
        resource: 'pods',
        group: '',
        namespace: 'istio-1-16-5',
        name: 'istiod-x',
        subresource: 'portforward',
      }),
    ).toBe('get and create pods/portforward (apiGroup "") in namespace istio-1-16-5');
  });
  it('http date', () => {
    expect(parseRetryAfter(new Date(10_000).toUTCString(), undefined, 5_000)).toBe(5_000);
    expect(parseRetryAfter('garbage', undefined)).toBeUndefined();
  });
  it('mustExist throws KubeNotFound non-retryable', () => {
    expect(() => mustExist(undefined, { resource: 'deployments', group: 'apps', namespace: 'x', name: 'istiod' })).toThrow(
      /deployments.apps\/istiod in namespace x not found/,
    );
    expect(mustExist(1, { resource: 'x', group: '' })).toBe(1);
  });
});
