// A real authoritative DNS server on loopback, over UDP and TCP (RFC 1035 §4.2, TCP messages with a
// two-byte length prefix), answering A queries from the zone with their TTL and NXDOMAIN for names
// it does not hold, so the DNS cutover can be verified by resolving, as against a real provider.
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server, type Socket as TcpSocket } from 'node:net';
import dnsPacket from 'dns-packet';
import type { Logger } from '../../logging/logger.js';
import type { DnsZone } from './zone.js';

const RCODE_NOERROR = 0;
const RCODE_FORMERR = 1;
const RCODE_NXDOMAIN = 3;

/** The response to one query message (pure, for UDP and TCP alike). */
export function answerQuery(zone: DnsZone, query: Buffer): Buffer {
  let q: dnsPacket.DecodedPacket;
  try {
    q = dnsPacket.decode(query);
  } catch {
    // Not even a header: echo an id-less FORMERR (the client will time out on garbage anyway).
    return dnsPacket.encode({ type: 'response', id: query.length >= 2 ? query.readUInt16BE(0) : 0, flags: RCODE_FORMERR });
  }
  const question = q.questions?.[0];
  const base = { type: 'response' as const, id: q.id ?? 0, questions: q.questions ?? [] };
  const rd = q.flag_rd ? dnsPacket.RECURSION_DESIRED : 0;
  if (!question) return dnsPacket.encode({ ...base, flags: RCODE_FORMERR | rd });
  const record = zone.lookup(question.name);
  if (!record) return dnsPacket.encode({ ...base, flags: dnsPacket.AUTHORITATIVE_ANSWER | rd | RCODE_NXDOMAIN });
  // The name exists: other types get an empty NOERROR answer (NODATA), as an authoritative server.
  const answers =
    question.type === 'A' || question.type === ('ANY' as never)
      ? [{ type: 'A' as const, class: 'IN' as const, name: question.name, ttl: record.ttl, data: record.address }]
      : [];
  return dnsPacket.encode({ ...base, flags: dnsPacket.AUTHORITATIVE_ANSWER | rd | RCODE_NOERROR, answers });
}

export interface DnsServer {
  host: string;
  port: number;
  /** Queries answered, UDP and TCP. */
  queries: () => number;
  close(): Promise<void>;
}

function listenUdp(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(port, host, () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

function listenTcp(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Starts UDP and TCP on the same port; port 0 picks one free for both. */
export async function startDnsServer(zone: DnsZone, opts: { host?: string; port?: number; logger: Logger }): Promise<DnsServer> {
  const host = opts.host ?? '127.0.0.1';
  let queries = 0;
  const sockets = new Set<TcpSocket>();
  const tcp = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        const out = answerQuery(zone, msg);
        queries++;
        const framed = Buffer.alloc(2 + out.length);
        framed.writeUInt16BE(out.length, 0);
        out.copy(framed, 2);
        sock.write(framed);
      }
    });
  });
  let udp: Socket | undefined;
  // With port 0 the UDP port picked may be taken for TCP: try a few.
  for (let attempt = 0; ; attempt++) {
    udp = await listenUdp(host, opts.port ?? 0);
    const port = udp.address().port;
    try {
      await listenTcp(tcp, host, port);
      break;
    } catch (err) {
      udp.close();
      if ((opts.port ?? 0) !== 0 || attempt >= 5) throw err;
    }
  }
  const u = udp;
  u.on('message', (msg, rinfo) => {
    queries++;
    u.send(answerQuery(zone, msg), rinfo.port, rinfo.address);
  });
  u.on('error', (err) => opts.logger.warn({ err: String(err) }, 'dns udp error'));
  const port = u.address().port;
  return {
    host,
    port,
    queries: () => queries,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise<void>((r) => u.close(() => r())), new Promise<void>((r) => tcp.close(() => r()))]);
    },
  };
}
