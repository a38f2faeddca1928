// The action of `meshmove twin snapshot` (registered in client/commands/twin.ts): read the cluster,
// decide the scenario, check it against the twin's own schema, write it. Read-only on the cluster.
import { writeFile } from 'node:fs/promises';
import { loadPlan, PlanError } from '../../plan/load.js';
import type { Plan } from '../../plan/schema.js';
import { CliError, ExitCode, emit } from '../cli-kit.js';
import { asCliError, kubeForCli, type KubeCliOptions } from '../commands/kube-options.js';
import { anonymizeScenario } from './anonymize.js';
import { readClusterShape } from './read.js';
import { renderSnapshot } from './render.js';
import { scenarioFromCluster } from './scenario.js';
import { snapshotSummary, type SnapshotSummary } from './summary.js';

export interface SnapshotCliOptions extends KubeCliOptions {
  output?: string;
  plan?: string;
  anonymize?: boolean;
  json?: boolean;
}

async function planFor(file: string): Promise<Plan> {
  try {
    return (await loadPlan(file)).plan;
  } catch (err) {
    if (err instanceof PlanError) throw new CliError(`--plan ${err.message}`, ExitCode.badInput, err.problems);
    throw new CliError(`--plan ${file}: ${(err as Error).message}`, ExitCode.badInput);
  }
}

function human(s: SnapshotSummary): string {
  const c = s.counts;
  return [
    `wrote ${s.output === '-' ? 'the scenario to stdout' : s.output}${s.anonymized ? ' (anonymized)' : ''}: ${c.controlPlanes} control planes, ${c.gateways} gateways, ${c.namespaces} namespaces, ` +
      `${c.workloads} workloads (${c.services} with a Service), ${c.istioConfig} Istio config objects, ${c.objects} other objects, ${c.dnsRecords} DNS records`,
    ...(s.lost
      ? [
          `${s.lost} thing(s) the scenario cannot express are listed in the file's header${s.anonymized ? ' (counted only: --anonymize)' : ''}`,
        ]
      : []),
    `serve it with: meshmove twin serve --scenario ${s.output === '-' ? 'FILE' : s.output}`,
  ].join('\n');
}

export async function runSnapshot(opts: SnapshotCliOptions, now: () => Date = () => new Date()): Promise<void> {
  const toStdout = opts.output === undefined || opts.output === '-';
  if (opts.json && toStdout)
    throw new CliError('--json prints a summary of the snapshot: give -o/--output FILE for the scenario itself', ExitCode.badInput);
  const plan = opts.plan ? await planFor(opts.plan) : undefined;
  let kube;
  try {
    kube = kubeForCli(opts, plan?.cluster.context);
  } catch (err) {
    if (err instanceof CliError) throw new CliError(`--kubeconfig/--context: ${err.message}`, err.exitCode);
    throw err;
  }
  const shape = await readClusterShape(kube, {
    names: plan?.dns?.records.map((r) => r.name) ?? [],
    resolvers: plan?.dns?.resolvers ?? [],
  }).catch((err: unknown) => Promise.reject(asCliError(err)));
  const result = scenarioFromCluster(shape, { plan });
  const scenario = opts.anonymize ? anonymizeScenario(result.scenario) : result.scenario;
  // Checked against the twin's own schema; the twin loads only when a snapshot is taken.
  const { parseScenario, ScenarioError } = await import('../../twin/scenario.js');
  try {
    parseScenario(scenario, 'snapshot');
  } catch (err) {
    if (err instanceof ScenarioError) {
      const why = result.lost.length && !opts.anonymize ? `\n${result.lost.map((l) => `  - ${l}`).join('\n')}` : '';
      throw new CliError(`the cluster cannot be written as a twin scenario: ${err.message}${why}`, ExitCode.failed, err.problems);
    }
    throw err;
  }
  const text = renderSnapshot(scenario, {
    source: opts.anonymize ? undefined : { context: shape.context, server: shape.server },
    takenAt: now(),
    lost: result.lost,
    anonymized: opts.anonymize === true,
  });
  const summary = snapshotSummary(scenario, {
    output: toStdout ? '-' : opts.output!,
    anonymized: opts.anonymize === true,
    lost: result.lost,
  });
  if (toStdout) {
    process.stdout.write(text);
    process.stderr.write(`${human(summary)}\n`);
    return;
  }
  try {
    await writeFile(opts.output!, text);
  } catch (err) {
    throw new CliError(`-o/--output ${opts.output!}: ${(err as Error).message}`, ExitCode.badInput);
  }
  emit(opts, summary, () => human(summary));
}
