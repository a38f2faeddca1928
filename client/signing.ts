// Signing decisions as git signs commits with SSH keys: with a private key file (--key FILE,
// $MESHMOVE_SIGNING_KEY) or through the running ssh-agent ($SSH_AUTH_SOCK; --key may then name the
// public key to use). The signature is the SSHSIG format with namespace `meshmove`, byte for byte
// what `ssh-keygen -Y sign -n meshmove -f KEY` writes. Private keys never leave this process.
import { createPrivateKey, randomBytes, sign as nodeSign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { CliError, ExitCode } from './cli-kit.js';
import {
  SIGNATURE_NAMESPACE,
  SshReader,
  armorSignature,
  base64Decode,
  parsePublicKey,
  publicKeyFromBlob,
  signedData,
  sshMpint,
  sshString,
  type PublicKey,
} from '../workflows/identity/sshsig.js';
import { decisionMessage, type DecisionFields, type SignedDecision } from '../workflows/identity/decision.js';

export interface DecisionSigner {
  key: PublicKey;
  /** The armored SSHSIG over `message`. */
  sign(message: string): Promise<string>;
}

const b64url = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** A private key in OpenSSH's format (`-----BEGIN OPENSSH PRIVATE KEY-----`), unencrypted. */
export function parseOpenSshPrivateKey(text: string, file: string): { key: PublicKey; privateKey: KeyObject } {
  const m = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/.exec(text);
  if (!m)
    throw new CliError(
      `${file}: not an OpenSSH private key (ssh-keygen writes one; a .pub file is used through ssh-agent)`,
      ExitCode.badInput,
    );
  const r = new SshReader(base64Decode(m[1]!));
  if (Buffer.from(r.bytes(15)).toString('latin1') !== 'openssh-key-v1\0')
    throw new CliError(`${file}: not an openssh-key-v1 key`, ExitCode.badInput);
  const cipher = r.text();
  r.text(); // kdf
  r.string(); // kdf options
  if (cipher !== 'none') {
    throw new CliError(
      `${file} is protected by a passphrase: add it to ssh-agent (ssh-add ${file}) and sign through the agent (--key ${file}.pub)`,
      ExitCode.badInput,
    );
  }
  if (r.uint32() !== 1) throw new CliError(`${file}: only files with one key are supported`, ExitCode.badInput);
  const key = publicKeyFromBlob(r.string());
  const p = new SshReader(r.string());
  if (p.uint32() !== p.uint32()) throw new CliError(`${file}: corrupt private key (check bytes differ)`, ExitCode.badInput);
  p.text(); // type
  let jwk: Record<string, string>;
  if (key.type === 'ssh-ed25519') {
    const pub = p.string();
    const priv = p.string();
    jwk = { kty: 'OKP', crv: 'Ed25519', x: b64url(pub), d: b64url(priv.subarray(0, 32)) };
  } else if (key.type === 'ecdsa-sha2-nistp256') {
    p.text();
    const q = p.string();
    const d = p.mpint();
    const pad = (b: Uint8Array) => Buffer.concat([Buffer.alloc(32 - b.length), b]);
    jwk = { kty: 'EC', crv: 'P-256', x: b64url(q.subarray(1, 33)), y: b64url(q.subarray(33, 65)), d: b64url(pad(d)) };
  } else {
    const [n, e, d, iqmp, pp, qq] = [p.mpint(), p.mpint(), p.mpint(), p.mpint(), p.mpint(), p.mpint()];
    const big = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
    const bytes = (v: bigint) => {
      const h = v.toString(16);
      return Buffer.from(h.length % 2 ? `0${h}` : h, 'hex');
    };
    const dd = big(d);
    jwk = {
      kty: 'RSA',
      n: b64url(n),
      e: b64url(e),
      d: b64url(d),
      p: b64url(pp),
      q: b64url(qq),
      qi: b64url(iqmp),
      dp: b64url(bytes(dd % (big(pp) - 1n))),
      dq: b64url(bytes(dd % (big(qq) - 1n))),
    };
  }
  return { key, privateKey: createPrivateKey({ key: jwk, format: 'jwk' }) };
}

function fileSigner(key: PublicKey, privateKey: KeyObject): DecisionSigner {
  return {
    key,
    sign: async (message) => {
      if (key.type === 'ssh-ed25519') {
        const data = signedData(SIGNATURE_NAMESPACE, 'sha512', Buffer.from(message, 'utf8'));
        return armorSignature(key.blob, SIGNATURE_NAMESPACE, 'sha512', 'ssh-ed25519', nodeSign(null, data, privateKey));
      }
      const data = signedData(SIGNATURE_NAMESPACE, 'sha512', Buffer.from(message, 'utf8'));
      if (key.type === 'ecdsa-sha2-nistp256') {
        const rs = nodeSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
        const sig = Buffer.concat([sshMpint(rs.subarray(0, 32)), sshMpint(rs.subarray(32))]);
        return armorSignature(key.blob, SIGNATURE_NAMESPACE, 'sha512', 'ecdsa-sha2-nistp256', sig);
      }
      return armorSignature(key.blob, SIGNATURE_NAMESPACE, 'sha512', 'rsa-sha2-512', nodeSign('sha512', data, privateKey));
    },
  };
}

// ---- ssh-agent (draft-miller-ssh-agent) ----

const AGENTC_REQUEST_IDENTITIES = 11;
const AGENT_IDENTITIES_ANSWER = 12;
const AGENTC_SIGN_REQUEST = 13;
const AGENT_SIGN_RESPONSE = 14;
const AGENT_RSA_SHA2_512 = 4;

function agentRequest(sock: string, type: number, body: Uint8Array): Promise<{ type: number; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const c = connect(sock);
    const chunks: Buffer[] = [];
    c.on('error', (err) => reject(new CliError(`cannot talk to ssh-agent at ${sock}: ${err.message}`, ExitCode.failed)));
    c.on('connect', () => {
      const msg = Buffer.concat([Buffer.from([type]), body]);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(msg.length);
      c.write(Buffer.concat([len, msg]));
    });
    c.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.length >= 4 && all.length >= 4 + all.readUInt32BE(0)) {
        c.end();
        resolve({ type: all[4]!, body: all.subarray(5, 4 + all.readUInt32BE(0)) });
      }
    });
  });
}

async function agentKeys(sock: string): Promise<PublicKey[]> {
  const res = await agentRequest(sock, AGENTC_REQUEST_IDENTITIES, new Uint8Array());
  if (res.type !== AGENT_IDENTITIES_ANSWER) throw new CliError('ssh-agent refused to list its keys', ExitCode.failed);
  const r = new SshReader(res.body);
  const keys: PublicKey[] = [];
  for (let n = r.uint32(); n > 0; n--) {
    const blob = r.string();
    r.string(); // comment
    try {
      keys.push(publicKeyFromBlob(blob));
    } catch {
      // a key type meshmove does not verify: not offered
    }
  }
  return keys;
}

function agentSigner(sock: string, key: PublicKey): DecisionSigner {
  return {
    key,
    sign: async (message) => {
      const data = signedData(SIGNATURE_NAMESPACE, 'sha512', Buffer.from(message, 'utf8'));
      const flags = Buffer.alloc(4);
      flags.writeUInt32BE(key.type === 'ssh-rsa' ? AGENT_RSA_SHA2_512 : 0);
      const res = await agentRequest(sock, AGENTC_SIGN_REQUEST, Buffer.concat([sshString(key.blob), sshString(data), flags]));
      if (res.type !== AGENT_SIGN_RESPONSE) throw new CliError(`ssh-agent refused to sign with ${key.fingerprint}`, ExitCode.failed);
      const sig = new SshReader(new SshReader(res.body).string());
      const sigType = sig.text();
      return armorSignature(key.blob, SIGNATURE_NAMESPACE, 'sha512', sigType, sig.string());
    },
  };
}

/**
 * The signer for this command: `keyFile` (a private key; or a .pub whose key the agent holds), else
 * $MESHMOVE_SIGNING_KEY, else the agent's only key. Throws with what to do when there is none.
 */
export async function loadSigner(keyFile?: string, env: NodeJS.ProcessEnv = process.env): Promise<DecisionSigner> {
  const file = keyFile ?? env.MESHMOVE_SIGNING_KEY;
  const sock = env.SSH_AUTH_SOCK;
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the signing key ${file}: ${(err as Error).message}`, ExitCode.badInput);
    }
    if (!text.includes('PRIVATE KEY')) {
      let pub: PublicKey;
      try {
        pub = parsePublicKey(text);
      } catch (err) {
        throw new CliError(`${file}: ${(err as Error).message}`, ExitCode.badInput);
      }
      if (!sock)
        throw new CliError(
          `${file} is a public key: its private key must be in ssh-agent, and SSH_AUTH_SOCK is not set`,
          ExitCode.badInput,
        );
      if (!(await agentKeys(sock)).some((k) => k.fingerprint === pub.fingerprint))
        throw new CliError(`ssh-agent does not hold the key of ${file} (${pub.fingerprint}); ssh-add it`, ExitCode.badInput);
      return agentSigner(sock, pub);
    }
    const { key, privateKey } = parseOpenSshPrivateKey(text, file);
    return fileSigner(key, privateKey);
  }
  if (sock) {
    const keys = await agentKeys(sock);
    if (keys.length === 1) return agentSigner(sock, keys[0]!);
    if (keys.length > 1)
      throw new CliError(
        `ssh-agent holds ${keys.length} keys (${keys.map((k) => k.fingerprint).join(', ')}): say which with --key FILE.pub`,
        ExitCode.badInput,
      );
  }
  throw new CliError(
    'decisions are signed: pass --key FILE (your SSH private key, or its .pub with the key in ssh-agent), set MESHMOVE_SIGNING_KEY, or run ssh-agent with your key',
    ExitCode.badInput,
  );
}

/** Sign a decision now: the fields, this moment and a fresh nonce. */
export async function signDecision(
  signer: DecisionSigner,
  fields: Omit<DecisionFields, 'at' | 'nonce'>,
  now = new Date(),
): Promise<SignedDecision> {
  const message = decisionMessage({ ...fields, at: now.toISOString(), nonce: randomBytes(16).toString('hex') });
  return { message, signature: await signer.sign(message) };
}

/**
 * Make a throwaway ed25519 key pair (the demo's alice and bob) and write it as ssh-keygen does:
 * `FILE` (OpenSSH private key, no passphrase, mode 0600) and `FILE.pub`. Returns the public key line.
 */
export async function writeThrowawayKey(file: string, comment: string): Promise<string> {
  const { generateKeyPairSync } = await import('node:crypto');
  const { writeFile } = await import('node:fs/promises');
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const pub = Buffer.from(jwk.x!, 'base64url');
  const seed = Buffer.from(jwk.d!, 'base64url');
  const blob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = randomBytes(4);
  let priv = Buffer.concat([
    check,
    check,
    sshString('ssh-ed25519'),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(comment),
  ]);
  const pad = Buffer.from(Array.from({ length: (8 - (priv.length % 8)) % 8 }, (_, i) => i + 1));
  priv = Buffer.concat([priv, pad]);
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0', 'latin1'),
    sshString('none'),
    sshString('none'),
    sshString(''),
    Buffer.from([0, 0, 0, 1]),
    sshString(blob),
    sshString(priv),
  ]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  await writeFile(file, `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`, { mode: 0o600 });
  const line = `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
  await writeFile(`${file}.pub`, `${line}\n`);
  return line;
}
