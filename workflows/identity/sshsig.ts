// SSH public keys and the SSHSIG signature format (OpenSSH's PROTOCOL.sshsig: what
// `ssh-keygen -Y sign -n NAMESPACE` writes and `ssh-keygen -Y verify` checks), in pure JavaScript so
// that the workflow sandbox verifies decisions itself, deterministically, with no Node crypto.
// ssh-ed25519, ecdsa-sha2-nistp256 and ssh-rsa (rsa-sha2-256/512 signatures) keys.
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';

/** The SSHSIG namespace of every meshmove signature (`ssh-keygen -Y sign -n meshmove`). */
export const SIGNATURE_NAMESPACE = 'meshmove';
export const SUPPORTED_KEY_TYPES = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa'] as const;
export type KeyType = (typeof SUPPORTED_KEY_TYPES)[number];

export interface PublicKey {
  type: KeyType;
  /** The key's wire blob (what authorized_keys holds in base64). */
  blob: Uint8Array;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
  /** `TYPE BASE64`, without comment. */
  line: string;
}

// ---- bytes ----

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function base64Encode(bytes: Uint8Array, pad = true): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const left = bytes.length - i;
    out +=
      B64[(n >> 18) & 63]! +
      B64[(n >> 12) & 63]! +
      (left > 1 ? B64[(n >> 6) & 63]! : pad ? '=' : '') +
      (left > 2 ? B64[n & 63]! : pad ? '=' : '');
  }
  return out;
}

export function base64Decode(text: string): Uint8Array {
  const clean = text.replace(/[\s=]+/g, '');
  if (!/^[A-Za-z0-9+/]*$/.test(clean) || clean.length % 4 === 1) throw new Error('not base64');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let j = 0;
  for (const ch of clean) {
    acc = (acc << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** SSH wire `string`: a uint32 length, then the bytes. */
export function sshString(data: Uint8Array | string): Uint8Array {
  const bytes = typeof data === 'string' ? utf8(data) : data;
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length);
  out.set(bytes, 4);
  return out;
}

/** SSH wire `mpint` of a non-negative big-endian integer. */
export function sshMpint(unsigned: Uint8Array): Uint8Array {
  let i = 0;
  while (i < unsigned.length && unsigned[i] === 0) i++;
  const trimmed = unsigned.subarray(i);
  return sshString(trimmed.length > 0 && trimmed[0]! & 0x80 ? concat(new Uint8Array([0]), trimmed) : trimmed);
}

/** Reads SSH wire data; throws on truncation. */
export class SshReader {
  private off = 0;
  constructor(private readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.off >= this.buf.length;
  }
  bytes(n: number): Uint8Array {
    if (this.off + n > this.buf.length) throw new Error('truncated SSH data');
    const out = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }
  uint32(): number {
    const b = this.bytes(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  }
  string(): Uint8Array {
    return this.bytes(this.uint32());
  }
  text(): string {
    return new TextDecoder().decode(this.string());
  }
  /** An mpint as unsigned big-endian bytes (leading zeros dropped). */
  mpint(): Uint8Array {
    const b = this.string();
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    return b.subarray(i);
  }
}

function toBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${hex(bytes)}`);
}

// ---- public keys ----

export function fingerprintOf(blob: Uint8Array): string {
  return `SHA256:${base64Encode(sha256(blob), false)}`;
}

/** A key from its wire blob; throws with the reason when the type is not supported or it is malformed. */
export function publicKeyFromBlob(blob: Uint8Array): PublicKey {
  const r = new SshReader(blob);
  const type = r.text();
  if (!(SUPPORTED_KEY_TYPES as readonly string[]).includes(type)) {
    throw new Error(`key type ${type} is not supported (supported: ${SUPPORTED_KEY_TYPES.join(', ')})`);
  }
  if (type === 'ssh-ed25519' && r.string().length !== 32) throw new Error('an ssh-ed25519 key has 32 bytes');
  if (type === 'ecdsa-sha2-nistp256') {
    if (r.text() !== 'nistp256') throw new Error('an ecdsa-sha2-nistp256 key names the curve nistp256');
    p256.Point.fromBytes(r.string()); // throws when the point is not on the curve
  }
  if (type === 'ssh-rsa') {
    r.mpint();
    if (r.mpint().length * 8 < 2048) throw new Error('an RSA key has at least 2048 bits');
  }
  if (!r.done) throw new Error('trailing data after the key');
  return { type: type as KeyType, blob, fingerprint: fingerprintOf(blob), line: `${type} ${base64Encode(blob)}` };
}

/** A key as authorized_keys or a .pub file write it: `TYPE BASE64 [comment]`. */
export function parsePublicKey(line: string): PublicKey {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64) throw new Error('a public key such as "ssh-ed25519 AAAA… comment"');
  let blob: Uint8Array;
  try {
    blob = base64Decode(b64);
  } catch {
    throw new Error(`the ${type} key is not valid base64`);
  }
  const key = publicKeyFromBlob(blob);
  if (key.type !== type) throw new Error(`the key says ${type} but holds a ${key.type} key`);
  return key;
}

// ---- SSHSIG ----

const MAGIC = utf8('SSHSIG');
const ARMOR_BEGIN = '-----BEGIN SSH SIGNATURE-----';
const ARMOR_END = '-----END SSH SIGNATURE-----';

export interface SshSignature {
  key: PublicKey;
  namespace: string;
  hashAlgorithm: 'sha256' | 'sha512';
  /** The signature algorithm (ssh-ed25519, ecdsa-sha2-nistp256, rsa-sha2-512, …) and its bytes. */
  sigType: string;
  sigBytes: Uint8Array;
}

/** What the key actually signs: the magic, the namespace, the hash algorithm and H(message). */
export function signedData(namespace: string, hashAlgorithm: 'sha256' | 'sha512', message: Uint8Array): Uint8Array {
  const h = hashAlgorithm === 'sha256' ? sha256(message) : sha512(message);
  return concat(MAGIC, sshString(namespace), sshString(''), sshString(hashAlgorithm), sshString(h));
}

export function parseSignature(armored: string): SshSignature {
  const text = armored.trim();
  if (!text.startsWith(ARMOR_BEGIN) || !text.endsWith(ARMOR_END)) throw new Error(`not an SSH signature (${ARMOR_BEGIN} … ${ARMOR_END})`);
  const r = new SshReader(base64Decode(text.slice(ARMOR_BEGIN.length, -ARMOR_END.length)));
  if (!equalBytes(r.bytes(6), MAGIC)) throw new Error('not an SSHSIG signature');
  const version = r.uint32();
  if (version !== 1) throw new Error(`SSHSIG version ${version} is not supported`);
  const key = publicKeyFromBlob(r.string());
  const namespace = r.text();
  r.string(); // reserved
  const hashAlgorithm = r.text();
  if (hashAlgorithm !== 'sha256' && hashAlgorithm !== 'sha512') throw new Error(`hash algorithm ${hashAlgorithm} is not supported`);
  const sig = new SshReader(r.string());
  const sigType = sig.text();
  const sigBytes = sig.string();
  return { key, namespace, hashAlgorithm, sigType, sigBytes };
}

export function armorSignature(
  key: Uint8Array,
  namespace: string,
  hashAlgorithm: 'sha256' | 'sha512',
  sigType: string,
  sigBytes: Uint8Array,
): string {
  const blob = concat(
    MAGIC,
    new Uint8Array([0, 0, 0, 1]),
    sshString(key),
    sshString(namespace),
    sshString(''),
    sshString(hashAlgorithm),
    sshString(concat(sshString(sigType), sshString(sigBytes))),
  );
  const b64 = base64Encode(blob);
  const lines = b64.match(/.{1,70}/g) ?? [];
  return `${ARMOR_BEGIN}\n${lines.join('\n')}\n${ARMOR_END}\n`;
}

const DIGEST_INFO = {
  'rsa-sha2-256': { prefix: '3031300d060960864801650304020105000420', hash: sha256 },
  'rsa-sha2-512': { prefix: '3051300d060960864801650304020305000440', hash: sha512 },
} as const;

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

/** Whether `sigType`/`sigBytes` is a valid signature of `data` by `key`. */
function verifyRaw(key: PublicKey, sigType: string, sigBytes: Uint8Array, data: Uint8Array): boolean {
  const r = new SshReader(key.blob);
  r.text();
  if (key.type === 'ssh-ed25519') {
    return sigType === 'ssh-ed25519' && sigBytes.length === 64 && ed25519.verify(sigBytes, data, r.string(), { zip215: false });
  }
  if (key.type === 'ecdsa-sha2-nistp256') {
    if (sigType !== 'ecdsa-sha2-nistp256') return false;
    r.text();
    const point = r.string();
    const s = new SshReader(sigBytes);
    const [rr, ss] = [s.mpint(), s.mpint()];
    if (rr.length > 32 || ss.length > 32) return false;
    const compact = new Uint8Array(64);
    compact.set(rr, 32 - rr.length);
    compact.set(ss, 64 - ss.length);
    return p256.verify(compact, data, point, { lowS: false });
  }
  const alg = DIGEST_INFO[sigType as keyof typeof DIGEST_INFO];
  if (!alg) return false; // ssh-rsa (SHA-1) signatures are not accepted
  const e = toBigInt(r.mpint());
  const nBytes = r.mpint();
  const n = toBigInt(nBytes);
  const sig = toBigInt(sigBytes);
  if (sigBytes.length > nBytes.length || sig >= n) return false;
  const em = modPow(sig, e, n)
    .toString(16)
    .padStart(nBytes.length * 2, '0');
  const t = alg.prefix + hex(alg.hash(data));
  const expected = `0001${'ff'.repeat(nBytes.length - 3 - t.length / 2)}00${t}`;
  return em === expected;
}

/**
 * Verify an armored SSHSIG over `message` in `namespace`. Returns the signing key, or throws with the
 * reason (malformed, other namespace, signature does not verify).
 */
export function verifySignature(message: string | Uint8Array, armored: string, namespace = SIGNATURE_NAMESPACE): PublicKey {
  const sig = parseSignature(armored);
  if (sig.namespace !== namespace) throw new Error(`the signature is for namespace "${sig.namespace}", not "${namespace}"`);
  const data = signedData(namespace, sig.hashAlgorithm, typeof message === 'string' ? utf8(message) : message);
  if (!verifyRaw(sig.key, sig.sigType, sig.sigBytes, data))
    throw new Error(`the signature by ${sig.key.fingerprint} does not verify over this message`);
  return sig.key;
}
