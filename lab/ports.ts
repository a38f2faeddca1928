// Ports for servers the lab (and the tests that restart a server on the same port) start a moment
// after choosing them.
import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * The kernel's range of ephemeral ports: the source ports of outgoing connections (and of
 * `listen(0)`). A port reserved now for a server that starts later must lie outside it: in the gap,
 * any running component's outgoing connection (apiserver → etcd, istiod → apiserver) may be given
 * that port as its source port, and the server then fails with EADDRINUSE (seen in CI: istiod's
 * HTTP port, taken between reservation and start while the control plane came up).
 */
function ephemeralPortRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux: the IANA dynamic range, which macOS and Windows use
  }
  return [49152, 65535];
}

/** The range reserved ports come from: below the ephemeral range when there is room, else above it. */
export function reservablePortRange(ephemeral: [number, number] = ephemeralPortRange()): [number, number] {
  const [low, high] = ephemeral;
  if (low - 1 >= 12_000) return [10_000, low - 1];
  if (high + 1 <= 63_000) return [high + 1, 65_535];
  throw new Error(`the ephemeral port range ${low}-${high} leaves no room for fixed ports; narrow net.ipv4.ip_local_port_range`);
}

function canListen(port: number, address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: address, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Ports this process has handed out already: two components of one lab never get the same one. */
const handedOut = new Set<number>();

/**
 * A TCP port that nothing listens on at `address` now, outside the ephemeral range, for a server
 * started a moment later. Random within the range, so that labs side by side rarely pick alike.
 */
export async function freePort(address = '127.0.0.1'): Promise<number> {
  const [from, to] = reservablePortRange();
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1));
    if (handedOut.has(port)) continue;
    if (await canListen(port, address)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on ${address} in ${from}-${to} after 500 tries`);
}

export async function freePorts(n: number, address = '127.0.0.1'): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < n) ports.push(await freePort(address));
  return ports;
}
