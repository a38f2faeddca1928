// The lab chooses ports for servers it starts a moment later; they must lie outside the kernel's
// ephemeral range, or an outgoing connection of a running component can take one in the gap (a CI
// failure: istiod's HTTP port was "already in use" when istiod started).
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, freePorts, reservablePortRange } from '../../lab/ports.js';

describe('reservablePortRange', () => {
  it('lies below the ephemeral range when there is room (Linux default 32768-60999)', () => {
    expect(reservablePortRange([32768, 60999])).toEqual([10000, 32767]);
  });
  it('lies above it when the range starts low', () => {
    expect(reservablePortRange([1024, 49151])).toEqual([49152, 65535]);
  });
  it('refuses a range that leaves no room, naming the sysctl', () => {
    expect(() => reservablePortRange([1024, 65000])).toThrow(/ip_local_port_range/);
  });
});

describe('freePort', () => {
  it("gives distinct ports outside this machine's ephemeral range that a server can listen on", async () => {
    const ports = await freePorts(20);
    expect(new Set(ports).size).toBe(20);
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    for (const port of ports) expect(port < low! || port > high!).toBe(true);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ports[0], '127.0.0.1', resolve);
    });
    await new Promise((r) => server.close(r));
  });

  it('skips a port something listens on', async () => {
    const taken = await freePort();
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(taken, '127.0.0.1', resolve));
    try {
      const [from, to] = reservablePortRange();
      for (let i = 0; i < 50; i++) {
        const p = await freePort();
        expect(p).not.toBe(taken);
        expect(p >= from && p <= to).toBe(true);
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
