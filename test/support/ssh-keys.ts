// Throwaway SSH keys made by the real ssh-keygen, for tests that sign decisions.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestKey {
  name: string;
  /** The private key file (OpenSSH format, no passphrase). */
  file: string;
  /** `TYPE BASE64 comment`. */
  publicKey: string;
}

let dir: string | undefined;

/** A new key pair made by `ssh-keygen -t TYPE` (ed25519, ecdsa = nistp256, rsa = 3072 bits). */
export function makeKey(name: string, type: 'ed25519' | 'ecdsa' | 'rsa' = 'ed25519'): TestKey {
  dir ??= mkdtempSync(join(tmpdir(), 'meshmove-keys-'));
  const file = join(dir, `${name}-${type}-${Math.random().toString(36).slice(2, 8)}`);
  const bits = type === 'ecdsa' ? ['-b', '256'] : type === 'rsa' ? ['-b', '3072'] : [];
  execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', `${name}@test`, '-f', file], { stdio: 'ignore' });
  return { name, file, publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
}

/** `ssh-keygen -Y sign -n meshmove` over `message`: the armored signature. */
export function sshKeygenSign(key: TestKey, message: string): string {
  const msgFile = join(dir!, `msg-${Math.random().toString(36).slice(2)}`);
  writeFileSync(msgFile, message);
  execFileSync('ssh-keygen', ['-Y', 'sign', '-n', 'meshmove', '-f', key.file, msgFile], { stdio: 'ignore' });
  return readFileSync(`${msgFile}.sig`, 'utf8');
}

/** `ssh-keygen -Y verify`: true when ssh-keygen accepts `signature` over `message` by `key` as `name`. */
export function sshKeygenVerifies(key: TestKey, message: string, signature: string): boolean {
  const base = join(dir!, `v-${Math.random().toString(36).slice(2)}`);
  writeFileSync(`${base}.signers`, `${key.name} ${key.publicKey}\n`);
  writeFileSync(`${base}.sig`, signature);
  try {
    execFileSync('ssh-keygen', ['-Y', 'verify', '-f', `${base}.signers`, '-I', key.name, '-n', 'meshmove', '-s', `${base}.sig`], {
      input: message,
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    return true;
  } catch {
    return false;
  }
}
