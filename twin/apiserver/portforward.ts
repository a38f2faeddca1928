// Pod port-forward over WebSocket (the channel protocol client-node's PortForward speaks):
// per requested port a data channel 2i and an error channel 2i+1; the server's first frame on each
// carries the port as 2 bytes little-endian; bytes from the client on a data channel go to the
// pod's annotated loopback address. kubectl's SPDY(-over-WebSocket) port-forward is not served.
import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { podAddress } from './podnetwork.js';
import type { KubeObject } from './types.js';

export const PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export class PortForwarder {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => PORTFORWARD_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });

  /** Upgrades the request and bridges each port; the pod was already checked to be Running. */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer, pod: KubeObject, ports: number[]): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.bridge(ws, pod, ports));
  }

  private bridge(ws: WebSocket, pod: KubeObject, ports: number[]): void {
    const conns: Array<net.Socket | undefined> = [];
    const frame = (channel: number, data: Buffer): Buffer => Buffer.concat([Buffer.from([channel]), data]);
    const portBytes = (p: number): Buffer => {
      const b = Buffer.alloc(2);
      b.writeUInt16LE(p);
      return b;
    };
    const podName = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`;
    const closeAll = (): void => {
      for (const c of conns) c?.destroy();
      if (ws.readyState === ws.OPEN) ws.close();
    };

    ports.forEach((port, i) => {
      ws.send(frame(2 * i, portBytes(port)));
      ws.send(frame(2 * i + 1, portBytes(port)));
      const addr = podAddress(pod, port);
      if (!addr) {
        ws.send(
          frame(
            2 * i + 1,
            Buffer.from(
              `error forwarding port ${port} to pod ${podName}: no listener on port ${port} (pod has no ${'twin.meshmove.dev/endpoints'} entry for it)`,
            ),
          ),
        );
        return;
      }
      const conn = net.connect(addr.port, addr.host);
      conns[i] = conn;
      conn.on('data', (d: Buffer) => {
        if (ws.readyState === ws.OPEN) ws.send(frame(2 * i, d));
      });
      conn.on('error', (e) => {
        if (ws.readyState === ws.OPEN)
          ws.send(frame(2 * i + 1, Buffer.from(`error forwarding port ${port} to pod ${podName}: ${e.message}`)));
        closeAll();
      });
      conn.on('close', () => closeAll());
    });

    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const buf = isBinary ? data : Buffer.from(data);
      if (buf.length < 1) return;
      const channel = buf[0]!;
      if (channel % 2 !== 0) return;
      conns[channel / 2]?.write(buf.subarray(1));
    });
    ws.on('close', () => {
      for (const c of conns) c?.end();
    });
    ws.on('error', () => closeAll());
  }

  close(): void {
    for (const c of this.wss.clients) c.terminate();
    this.wss.close();
  }
}
