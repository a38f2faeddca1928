// The load generator's safety rail: it may only reach the loopback network (127.0.0.0/8, ::1), so
// a rehearsal aimed at the twin can never load a real service because a name resolved elsewhere
// or a URL was mistyped. Pure decisions, used before any byte is sent.
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for an IP literal inside 127.0.0.0/8 or ::1 (IPv4-mapped forms included); false for names. */
export function isLoopbackAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  return LOOPBACK.check(address, family === 6 ? 'ipv6' : 'ipv4');
}

export interface HostPort {
  host: string;
  port: number;
}

/** `127.0.0.1:53`, `[::1]:53` or `localhost:53`; undefined when it is not of that form. */
export function parseHostPort(text: string): HostPort | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m?.[1] || !m[2]) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1], port };
}

/** Hosts that name the loopback interface without DNS (RFC 6761 §6.3), so no resolver is asked. */
export function loopbackLiteral(host: string): string | undefined {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return '127.0.0.1';
  const bare = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  return isIP(bare) ? bare : undefined;
}
