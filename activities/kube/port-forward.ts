// kubectl port-forward, in-process: a loopback listener whose every connection becomes one
// port-forward WebSocket to the pod through the apiserver (client-node's PortForward). This is how
// istioctl reads istiod's debug endpoints on a real cluster: they refuse non-local callers, so the
// service proxy is not enough (issue §7).
import net from 'node:net';
import { Writable } from 'node:stream';
import { PortForward, type KubeConfig } from '@kubernetes/client-node';
// The handler PortForward uses by default; the package index does not re-export it (1.4.x is pinned).
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import type { ApplicationFailure } from '@temporalio/common';
import WebSocket from 'ws';
import { classifyKubeError, isKubeFailure, kubeFailure, type KubeCallTarget } from './errors.js';
import type { PodRef } from './types.js';
import { FailureType } from '../failures.js';

/** Enough for any Status the apiserver sends; a proxy's HTML error page is cut here. */
const MAX_REFUSAL_BODY = 16 * 1024;

/**
 * A refused port-forward upgrade, shaped like client-node's ApiException (code, body, headers) so
 * that `classifyKubeError` reads the apiserver's Status from it as from any other answer.
 */
export class UpgradeRefused extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
    readonly headers: Record<string, string | string[] | undefined>,
  ) {
    super(`Unexpected server response: ${code}`);
    this.name = 'UpgradeRefused';
  }
}

/**
 * A WebSocket that keeps the answer to a refused upgrade. Left alone, ws drops the body and
 * reports only "Unexpected server response: 500", while kube-apiserver puts the cause in it (a
 * Status: "error dialing backend: dial tcp …:10250: connect: connection refused" when it cannot
 * reach the kubelet): read it, then fail the handshake with it.
 */
export function upgradeRefusalSocket(uri: string, protocols: string[], opts: WebSocket.ClientOptions): WebSocket {
  const ws = new WebSocket(uri, protocols, opts);
  ws.once('unexpected-response', (_req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = () => {
      if (done) return;
      done = true;
      // client-node rejects the connection with this error event; terminate() then closes the
      // socket (its own "closed before the connection was established" comes second, unread).
      ws.emit('error', new UpgradeRefused(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), res.headers));
      ws.terminate();
    };
    res.on('data', (c: Buffer) => {
      if (size < MAX_REFUSAL_BODY) chunks.push(c.subarray(0, MAX_REFUSAL_BODY - size));
      size += c.length;
      if (size >= MAX_REFUSAL_BODY) fail();
    });
    res.once('end', fail);
    res.once('error', fail);
    res.once('close', fail);
  });
  return ws;
}

/** Runs one API request the way the access layer does (rate limit, retry, classification). */
export type CallRunner = <T>(target: KubeCallTarget, fn: () => Promise<T>) => Promise<T>;

interface Closable {
  close(): void;
  on?(event: 'close', cb: () => void): unknown;
}

export class PortForwarder {
  constructor(
    private readonly kc: KubeConfig,
    private readonly run: CallRunner,
  ) {}

  async withPortForward<T>(pod: PodRef, port: number, fn: (localPort: number) => Promise<T>): Promise<T> {
    const fwd = await this.open(pod, port);
    try {
      return await fn(fwd.localPort);
    } catch (err) {
      throw fwd.error() ?? err;
    } finally {
      fwd.close();
    }
  }

  /**
   * A loopback listener forwarding to the pod until closed: each connection to it is one tunnel
   * (one port-forward request), so a keep-alive HTTP client reuses one tunnel for many requests.
   */
  async open(pod: PodRef, port: number): Promise<OpenForward> {
    const target: KubeCallTarget = {
      verb: 'portforward',
      resource: 'pods',
      group: '',
      namespace: pod.namespace,
      name: pod.name,
      subresource: 'portforward',
    };
    const pf = new PortForward(this.kc, true, new WebSocketHandler(this.kc, upgradeRefusalSocket));
    const sockets = new Set<net.Socket>();
    const tunnels = new Set<Closable>();
    // The first tunnel failure explains a failed request better than "socket hang up".
    let tunnelError: ApplicationFailure | undefined;
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      // Data the pod side writes to the error stream (e.g. "connection refused" inside the pod).
      const errStream = new Writable({
        write(chunk: Buffer, _enc, cb) {
          // The first frame of the error channel carries only the port number (stripped by the
          // client, leaving an empty chunk); anything else is the pod side reporting a failure.
          const text = chunk.toString('utf8').trim();
          if (text) {
            if (!tunnelError)
              tunnelError = kubeFailure({
                type: FailureType.KubePortForward,
                retryable: true,
                message: `port-forward to ${pod.namespace}/${pod.name}:${port}: ${text}`,
              });
            socket.destroy();
          }
          cb();
        },
      });
      socket.pause();
      this.run(target, () => pf.portForward(pod.namespace, pod.name, [port], socket, errStream, socket))
        .then((wsOrFactory) => {
          const ws = (typeof wsOrFactory === 'function' ? wsOrFactory() : wsOrFactory) as Closable | null;
          if (!ws) return socket.destroy();
          tunnels.add(ws);
          // Either side closing ends the other, so the HTTP client sees the end of the response.
          ws.on?.('close', () => {
            tunnels.delete(ws);
            socket.end();
          });
          socket.on('close', () => ws.close());
          socket.resume();
        })
        .catch((err: unknown) => {
          if (!tunnelError) tunnelError = isKubeFailure(err) ? err : kubeFailure(classifyKubeError(err, target), err);
          socket.destroy();
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const localPort = typeof address === 'object' && address ? address.port : 0;
    return {
      localPort,
      error: () => tunnelError,
      close: () => {
        server.close();
        for (const t of tunnels) t.close();
        for (const s of sockets) s.destroy();
      },
    };
  }
}

export interface OpenForward {
  localPort: number;
  /** The first tunnel failure, which explains a failed request better than "socket hang up". */
  error(): ApplicationFailure | undefined;
  close(): void;
}
