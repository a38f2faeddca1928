// Where the lab's binaries come from: scripts/lab-tools.sh finds or builds them (from the Go module
// proxy, cached by version) and prints their directory. A missing toolchain or a failed build is an
// error with the script's own explanation, never a silent skip.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** scripts/lab-tools.sh: beside lab/ in a checkout, two levels up from dist/lab/ when built. */
export function labToolsScript(): string {
  const candidates = ['../scripts/lab-tools.sh', '../../scripts/lab-tools.sh'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`scripts/lab-tools.sh is missing from this installation (looked at ${candidates.join(', ')})`);
  return found;
}

export interface LabBinaries {
  dir: string;
  path(name: LabBinary): string;
}

export type LabBinary =
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'etcd'
  | 'kwok'
  | 'pilot-discovery'
  | 'istio-render'
  | 'xds-standin'
  | 'kwok-stages.yaml';

let found: Promise<LabBinaries> | undefined;

/**
 * Runs scripts/lab-tools.sh once per process. `progress` receives its stderr lines (a cold build
 * takes minutes and says what it is doing).
 */
export function labBinaries(progress: (line: string) => void = () => {}): Promise<LabBinaries> {
  found ??= new Promise<LabBinaries>((resolve, reject) => {
    const child = spawn('bash', [labToolsScript()], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of d.toString().split('\n')) if (line.startsWith('[lab-tools')) progress(line);
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) {
        const dir = out.trim();
        resolve({ dir, path: (name) => `${dir}/${name}` });
      } else {
        const tail = err.trimEnd().split('\n').slice(-15).join('\n');
        reject(new Error(`The lab's control-plane binaries are not available (bash scripts/lab-tools.sh exited ${code}):\n${tail}`));
      }
    });
  });
  found.catch(() => (found = undefined));
  return found;
}
