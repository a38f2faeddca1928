// A control plane's root CA: a real self-signed X.509 certificate (ECDSA P-256), encoded by hand in
// DER because node:crypto verifies and parses certificates but cannot issue them. Istio's own
// self-signed root looks like this (O=cluster.local, CA:true), so anything reading
// `istio-ca-root-cert` can parse it with `new X509Certificate(pem)` and compare fingerprints.
import { X509Certificate, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

export interface RootCa {
  /** Scenario id: control planes with the same id share this root. */
  id: string;
  pem: string;
  /** SHA-256 fingerprint as node's X509Certificate prints it (AA:BB:...). */
  fingerprint256: string;
}

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, body: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), len(body.length), body]);
const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const chunk: number[] = [];
    let v = n;
    do { chunk.unshift(v & 0x7f); v = Math.floor(v / 128); } while (v > 0);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i]! |= 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A non-negative DER INTEGER from big-endian bytes: minimal (no redundant leading 0x00), signed (a leading 1 bit gets a 0x00 pad). */
export function derInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = bytes.subarray(start);
  return tlv(0x02, body[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

function utcTime(d: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  const s = `${p(d.getUTCFullYear() % 100)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(s, 'ascii'));
}

const ECDSA_WITH_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

function name(org: string, cn: string): Buffer {
  return seq(
    set(seq(oid('2.5.4.10'), tlv(0x0c, Buffer.from(org, 'utf8')))),
    set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(cn, 'utf8')))),
  );
}

/** Creates a fresh self-signed root, valid for ten years from now. */
export function createRootCa(id: string, trustDomain = 'cluster.local'): RootCa {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const subject = name(trustDomain, `twin root ${id}`);
  const now = new Date();
  const notAfter = new Date(now.getTime() + 10 * 365 * 86_400_000);
  const serial = randomBytes(16);
  const basicConstraints = seq(oid('2.5.29.19'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, seq(tlv(0x01, Buffer.from([0xff])))));
  const keyUsage = seq(oid('2.5.29.15'), tlv(0x01, Buffer.from([0xff])), tlv(0x04, tlv(0x03, Buffer.from([0x01, 0x06])))); // keyCertSign, cRLSign
  const tbs = seq(
    tlv(0xa0, derInteger(Buffer.from([2]))),
    derInteger(serial),
    ECDSA_WITH_SHA256,
    subject,
    seq(utcTime(now), utcTime(notAfter)),
    subject,
    spki,
    tlv(0xa3, seq(basicConstraints, keyUsage)),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = seq(tbs, ECDSA_WITH_SHA256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  const pem = `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
  return { id, pem, fingerprint256: new X509Certificate(pem).fingerprint256 };
}

/** The fingerprint of a PEM root, or null when it does not parse (for display and comparison). */
export function rootFingerprint(pem: string | undefined): string | null {
  if (!pem) return null;
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return null;
  }
}

/** A root saved by a twin snapshot (the certificate only: nothing is signed with its key afterwards). */
export function rootCaFromPem(id: string, pem: string): RootCa {
  return { id, pem, fingerprint256: new X509Certificate(pem).fingerprint256 };
}
