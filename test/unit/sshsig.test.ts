// SSHSIG interop with the real ssh-keygen, both ways: what ssh-keygen -Y sign writes verifies in
// the workflow's pure verifier, and what meshmove's signer writes verifies with ssh-keygen -Y verify.
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSigner } from '../../client/signing.js';
import { parsePublicKey, verifySignature } from '../../workflows/identity/sshsig.js';
import { decisionMessage, parseDecisionMessage } from '../../workflows/identity/decision.js';
import { makeKey, sshKeygenSign, sshKeygenVerifies } from '../support/ssh-keys.js';

const message = decisionMessage({
  workflow: 'run-1',
  kind: 'gate',
  target: 'start',
  namespace: '-',
  verdict: 'approve',
  digest: 'ab'.repeat(32),
  by: 'bob',
  reason: 'looks "good"\nto me',
  at: '2026-12-02T04:00:00.000Z',
  nonce: '0f'.repeat(16),
});

describe.each(['ed25519', 'ecdsa', 'rsa'] as const)('SSHSIG with %s keys', (type) => {
  const key = makeKey('bob', type);

  it('verifies what ssh-keygen -Y sign -n meshmove writes, and names the key', () => {
    const sig = sshKeygenSign(key, message);
    expect(verifySignature(message, sig).fingerprint).toBe(parsePublicKey(key.publicKey).fingerprint);
  });

  it('refuses a signature over another message, in another namespace, or by another key', () => {
    const sig = sshKeygenSign(key, message);
    expect(() => verifySignature(message.replace('approve', 'reject '), sig)).toThrow(/does not verify/);
    expect(() => verifySignature(message, sig, 'git')).toThrow(/namespace "meshmove", not "git"/);
    const other = makeKey('mallory', type);
    const forged = sshKeygenSign(other, message);
    expect(verifySignature(message, forged).fingerprint).not.toBe(parsePublicKey(key.publicKey).fingerprint);
  });

  it('signs so that ssh-keygen -Y verify accepts it', async () => {
    const signer = await loadSigner(key.file, {});
    const sig = await signer.sign(message);
    expect(sshKeygenVerifies(key, message, sig)).toBe(true);
    expect(sshKeygenVerifies(key, `${message}x`, sig)).toBe(false);
    expect(verifySignature(message, sig).fingerprint).toBe(signer.key.fingerprint);
  });
});

describe('signing through ssh-agent', () => {
  it("signs with the agent's only key, or the one a .pub names; ssh-keygen verifies both", async () => {
    const sock = join(mkdtempSync(join(tmpdir(), 'meshmove-agent-')), 'agent.sock');
    const agent = spawn('ssh-agent', ['-D', '-a', sock], { stdio: 'ignore' });
    try {
      await expect.poll(() => existsSync(sock), { timeout: 2_500, message: "ssh-agent's socket" }).toBe(true);
      const env = { SSH_AUTH_SOCK: sock };
      const ed = makeKey('alice', 'ed25519');
      execFileSync('ssh-add', [ed.file], { env: { ...process.env, ...env }, stdio: 'ignore' });
      const only = await loadSigner(undefined, env);
      expect(sshKeygenVerifies(ed, message, await only.sign(message))).toBe(true);
      const rsa = makeKey('alice', 'rsa');
      execFileSync('ssh-add', [rsa.file], { env: { ...process.env, ...env }, stdio: 'ignore' });
      await expect(loadSigner(undefined, env)).rejects.toThrow(/holds 2 keys/);
      const named = await loadSigner(`${rsa.file}.pub`, env);
      const sig = await named.sign(message);
      expect(sshKeygenVerifies(rsa, message, sig)).toBe(true);
      expect(verifySignature(message, sig).fingerprint).toBe(parsePublicKey(rsa.publicKey).fingerprint);
      await expect(loadSigner(`${makeKey('carol').file}.pub`, env)).rejects.toThrow(/does not hold the key/);
    } finally {
      agent.kill();
    }
  });
});

describe('decision message', () => {
  it('round-trips only in canonical form', () => {
    expect(parseDecisionMessage(message).reason).toBe('looks "good"\nto me');
    expect(() => parseDecisionMessage(message.replace('looks \\"good', 'looks \\u0022good'))).toThrow(/canonical/);
    expect(() => parseDecisionMessage(message.replace('\nnonce', '\nextra: 1\nnonce'))).toThrow(/fields/);
  });
});
