// The hand-written way, as the field report did it per namespace, with the real kubectl binary:
//   kubectl label namespace NS istio.io/rev=REV <discovery labels> istio-injection- --overwrite
//   kubectl wait --for=create configmap/istio-ca-root-cert -n NS
//   kubectl rollout restart deployment -n NS
//   kubectl rollout status deployment -n NS
// at most `concurrency` namespaces at once, the first (canary) namespace alone first as the plan does.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mapLimit } from '../activities/shared/concurrency.js';
import { relabelFor, type Plan } from '../plan/schema.js';

const run = promisify(execFile);

export interface ScriptResult {
  kubectl: string;
  kubectlVersion: string;
  commands: number;
  wallMs: number;
  perNamespaceMs: { p50: number; p95: number; max: number };
}

export async function kubectlVersion(kubectl: string): Promise<string> {
  const { stdout } = await run(kubectl, ['version', '--client', '-o', 'json']);
  return (JSON.parse(stdout) as { clientVersion: { gitVersion: string } }).clientVersion.gitVersion;
}

export async function runKubectlScript(kubectl: string, kubeconfig: string, plan: Plan): Promise<ScriptResult> {
  const change = relabelFor(plan);
  let commands = 0;
  const k = async (...args: string[]): Promise<void> => {
    commands++;
    try {
      await run(kubectl, ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 16 << 20 });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')}: ${e.stderr ?? e.message}`, { cause: err });
    }
  };
  const times: number[] = [];
  const one = async (ns: string): Promise<void> => {
    const t0 = Date.now();
    await k(
      'label',
      'namespace',
      ns,
      ...Object.entries(change.set).map(([a, b]) => `${a}=${b}`),
      ...change.remove.map((a) => `${a}-`),
      '--overwrite',
    );
    await k('wait', '--for=create', 'configmap/istio-ca-root-cert', '-n', ns, '--timeout=120s');
    await k('rollout', 'restart', 'deployment', '-n', ns);
    await k('rollout', 'status', 'deployment', '-n', ns, '--timeout=300s');
    times.push(Date.now() - t0);
  };
  const t0 = Date.now();
  for (const wave of plan.waves) await mapLimit(wave.namespaces, wave.concurrency, one);
  const wallMs = Date.now() - t0;
  times.sort((a, b) => a - b);
  const q = (p: number): number => times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0;
  return {
    kubectl,
    kubectlVersion: await kubectlVersion(kubectl),
    commands,
    wallMs,
    perNamespaceMs: { p50: q(0.5), p95: q(0.95), max: times[times.length - 1] ?? 0 },
  };
}
