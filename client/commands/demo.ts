// `meshmove demo`: the main job on embedded defaults. A local Temporal dev server (persisted), the
// simulated cluster of the field report, a worker, and the field report's plan, walked through in
// the terminal gate by gate. Running it again resumes the same run; --fresh starts over.
// `--real` rehearses the same plan on the lab's real control planes (kube-apiserver, etcd,
// controllers, kwok, two real istiod revisions; built once from the Go module proxy), which live
// only while the demo runs: it always starts over.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { createActivities } from '../../activities/index.js';
import { createKubeAccess } from '../../activities/kube/index.js';
import { createLogger, logToFile } from '../../logging/logger.js';
import { loadPlan, planDigest } from '../../plan/load.js';
import { createWorker, installRuntime } from '../../worker/worker.js';
import { TERMINAL_PHASES, type RunStatus } from '../../workflows/messages.js';
import { CliError, ExitCode, packageFile } from '../cli-kit.js';
import { Presenter } from '../demo/presenter.js';
import { defaultDataDir, startLocalTemporal } from '../local-temporal.js';
import { describeRun, queryStatus, runHistoryJson, sendDecision, sendGateVerdict, startRun, whatWaits } from '../runs.js';
import { loadSigner, writeThrowawayKey, type DecisionSigner } from '../signing.js';
import { startTwinOrExplain } from './twin.js';
import { WORKER_USER } from '../../worker/service-account.js';
import type { Plan } from '../../plan/schema.js';
import { backupTarget } from '../../plan/schema.js';
import { startDemoTraffic, type DemoTraffic } from '../demo/traffic.js';
import { rbacForPlan } from '../plan-rbac.js';

const DEMO_RUN_ID = 'meshmove-demo';
/** The simulated cluster's state in the data dir (--fresh deletes it with the rest). */
export const TWIN_STATE_FILE = 'twin-state.json';

interface DemoOptions {
  fresh?: boolean;
  autoApprove?: boolean;
  dataDir: string;
  scenario?: string;
  plan?: string;
  port: string;
  prometheusPort: string;
  real?: boolean;
}

/** Where the rehearsal's cluster is, as the worker and the plan need it. */
interface DemoCluster {
  /** The worker's kubeconfig: its ServiceAccount, bound by exactly deploy/rbac.yaml. */
  workerKubeconfig: string;
  dnsSecret: string;
  /** The plan as it must read for this cluster (its context, its DNS provider and resolver). */
  plan: Plan;
  /** Live traffic and Prometheus (the simulated cluster only: its proxies export istio_requests_total). */
  traffic?: DemoTraffic;
  close(): Promise<void>;
}

async function startSimulatedCluster(opts: DemoOptions, plan: Plan, rbacYaml: string, say: (l: string) => void): Promise<DemoCluster> {
  // The simulated cluster lives in the data dir too, so a resumed run finds the cluster it left.
  const twin = await startTwinOrExplain(opts.scenario ?? packageFile('examples/twin/field-report.yaml'), {
    kubeconfigPath: join(opts.dataDir, 'kubeconfig'),
    statePath: join(opts.dataDir, TWIN_STATE_FILE),
  });
  say(`  cluster       ${twin.apiUrl}  (kubectl --kubeconfig ${twin.kubeconfigPath} get ns,pods -A)`);
  say(`                ${twin.restored ? 'restored from' : 'saved to'} ${twin.statePath ?? ''}`);
  say(
    `  DNS           ${twin.dns.host}:${twin.dns.port}   gateways: ${Object.entries(twin.gateways)
      .map(([k, g]) => `${k} ${g.address}:${g.port}`)
      .join(', ')}`,
  );
  // The worker acts with exactly the permissions deploy/rbac.yaml gives its service account: the
  // twin answers anything else with the 403 a real cluster would.
  const workerKubeconfig = join(opts.dataDir, 'worker.kubeconfig');
  const { writeKubeconfigAs } = await import('../../twin/index.js');
  await writeKubeconfigAs(twin, rbacYaml, workerKubeconfig);
  // The rehearsal's DNS is the twin's, whatever the plan names (a plan from `plan init` has placeholders):
  // its signed webhook changes the records, its server answers them.
  const secretEnv = plan.dns?.provider.type === 'webhook' ? plan.dns.provider.secretEnv : 'MESHMOVE_DNS_SECRET';
  const webhookUrl = `${twin.apiUrl}/_twin/dns`;
  const resolver = `${twin.dns.host}:${twin.dns.port}`;
  const onTwin: Plan = plan.dns
    ? { ...plan, dns: { ...plan.dns, provider: { type: 'webhook', url: webhookUrl, secretEnv }, resolvers: [resolver] } }
    : plan;
  if (
    plan.dns &&
    (plan.dns.provider.type !== 'webhook' || plan.dns.provider.url !== webhookUrl || plan.dns.resolvers.join() !== resolver)
  ) {
    say(
      `                the plan's DNS is rehearsed on the twin's: webhook ${twin.apiUrl}/_twin/dns, resolver ${twin.dns.host}:${twin.dns.port}`,
    );
  }
  const traffic = await startDemoTraffic({
    dataDir: opts.dataDir,
    twin,
    plan: onTwin,
    prometheusPort: Number(opts.prometheusPort),
    say,
  }).catch(async (err: unknown) => {
    await twin.close();
    throw err;
  });
  return {
    workerKubeconfig,
    dnsSecret: twin.dnsWebhookSecret,
    plan: traffic?.plan ?? onTwin,
    ...(traffic ? { traffic } : {}),
    close: async () => {
      await traffic?.close();
      await twin.close();
    },
  };
}

async function startRealCluster(opts: DemoOptions, plan: Plan, rbacYaml: string, say: (l: string) => void): Promise<DemoCluster> {
  if (opts.scenario)
    throw new CliError(
      "--scenario describes a simulated cluster; --real runs the field report's cluster on real control planes (drop one of them)",
      ExitCode.badInput,
    );
  // The simulators load when the demo runs, never with `meshmove worker`.
  const [{ DEMO_DNS_SECRET }, { LAB_CONTEXT, startFieldReportLab }] = await Promise.all([
    import('../../twin/dns/webhook.js'),
    import('../../lab/field-report.js'),
  ]);
  const dnsSecret = process.env.MESHMOVE_DNS_SECRET || DEMO_DNS_SECRET;
  say("  traffic       none on --real: the lab's stand-in proxies export no istio_requests_total, so the traffic analysis is off");
  say('  cluster       starting real control planes (the first run builds them from the Go module proxy: 20-60 minutes on 2 cores)');
  const cluster = await startFieldReportLab({
    dir: join(opts.dataDir, 'lab'),
    rbacYaml,
    hosts: plan.dns?.records.map((r) => r.name) ?? [],
    dnsSecret,
    progress: (line) => say(`                ${line}`),
  });
  say(`  cluster       ${cluster.lab.kube.server}  (kubectl --kubeconfig ${cluster.adminKubeconfig} get ns,pods -A)`);
  say(
    `                real: kube-apiserver, etcd, controller-manager, scheduler, istiod ${cluster.lab.istio.map((i) => i.revision).join(' and ')}; stood in: kwok's pods, the sidecars and gateways (routing from istiod's xDS)`,
  );
  say(
    `  DNS           ${cluster.dns.resolver}   gateways: ${cluster.lab.gateways.map((g) => `${g.namespace}/${g.name} ${g.address}:${g.port}`).join(', ')}`,
  );
  const dns = plan.dns && {
    ...plan.dns,
    provider: plan.dns.provider.type === 'webhook' ? { ...plan.dns.provider, url: cluster.dns.webhookUrl } : plan.dns.provider,
    resolvers: [cluster.dns.resolver],
  };
  return {
    workerKubeconfig: cluster.workerKubeconfig,
    dnsSecret,
    plan: {
      ...plan,
      cluster: { ...plan.cluster, context: LAB_CONTEXT },
      dns,
    },
    close: () => cluster.stop(),
  };
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      "rehearse the field report's migration end to end: local Temporal + simulated cluster + worker, walked through gate by gate",
    )
    .option('--fresh', 'forget the previous demo run and its simulated cluster, and start over')
    .option('--auto-approve', 'approve every gate without asking (for scripts)')
    .option(
      '--data-dir <dir>',
      'where the demo keeps its Temporal database, simulated cluster (twin-state.json), kubeconfig and backups',
      join(defaultDataDir(), 'demo'),
    )
    .option('--scenario <file>', 'the simulated cluster (default examples/twin/field-report.yaml)')
    .option('--plan <file>', 'the plan (default examples/plans/field-report.yaml)')
    .option('--port <n>', 'Temporal frontend port (the UI is on port+1000)', '17233')
    .option('--prometheus-port <n>', "where the demo's Prometheus listens, when one is installed (bash scripts/prometheus.sh)", '19090')
    .option(
      '--real',
      'rehearse on real control planes (kube-apiserver, two istiod revisions) built from the Go module proxy, instead of the simulated cluster; always starts over',
    )
    .action((opts: DemoOptions, cmd: Command) => {
      // The real cluster does not outlive the demo, so neither does its run: keep it apart from the twin's.
      if (opts.real && cmd.getOptionValueSource('dataDir') === 'default') opts.dataDir = join(defaultDataDir(), 'demo-real');
      return runDemo(opts);
    });
}

async function runDemo(opts: DemoOptions): Promise<void> {
  if (opts.fresh || opts.real) await rm(opts.dataDir, { recursive: true, force: true });
  await mkdir(opts.dataDir, { recursive: true });
  // The terminal is the person's: the worker's and the cluster's JSON logs go to a file.
  const logFile = join(opts.dataDir, 'meshmove.log');
  logToFile(logFile);
  installRuntime();
  const loaded = await loadPlan(opts.plan ?? packageFile('examples/plans/field-report.yaml'));
  // Decisions are signed: the rehearsal's people get throwaway keys of their own, in the data dir.
  const keys = await demoKeys(opts.dataDir, loaded.plan.identity === 'signed' ? loaded.plan.approvers.map((a) => a.name) : []);
  // Backups of the rehearsal go next to its database, not into the current directory.
  let plan: Plan = {
    ...loaded.plan,
    backup: { location: join(opts.dataDir, 'backups') },
    approvers: loaded.plan.approvers.map((a) => (keys.has(a.name) ? { ...a, keys: [keys.get(a.name)!.publicKey] } : a)),
  };
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const what = opts.plan ? `plan "${plan.metadata.name}"` : "the field report's migration";
    say(`meshmove demo — ${what}, rehearsed on ${opts.real ? 'real control planes' : 'a simulated cluster'}\n`);
    const port = Number(opts.port);
    const server = await startLocalTemporal({
      db: join(opts.dataDir, 'temporal.db'),
      port,
      uiPort: port + 1000,
      alreadyServingHint: 'Another `meshmove demo` or `meshmove dev` may be running on it.',
    });
    stops.push(() => server.stop());
    say(`  Temporal      ${server.address}  (database ${server.db})`);
    say(`  Temporal UI   ${server.uiUrl}`);

    // deploy/rbac.yaml with this plan's names (what `meshmove plan rbac` prints): the rehearsal
    // runs with exactly the permissions the worker would get for it.
    const rbacYaml = rbacForPlan(await readFile(packageFile('deploy/rbac.yaml'), 'utf8'), plan);
    const cluster = await (opts.real ? startRealCluster : startSimulatedCluster)(opts, plan, rbacYaml, say);
    stops.push(() => cluster.close());
    plan = cluster.plan;
    const workerKubeconfig = cluster.workerKubeconfig;
    const logger = createLogger('demo-worker');
    const activities = createActivities({
      kube: (context) => createKubeAccess({ kubeconfig: workerKubeconfig, context, logger }),
      logger,
      // The twin's DNS webhook checks this shared secret (never logged, never in history).
      env: { ...process.env, [plan.dns?.provider.type === 'webhook' ? plan.dns.provider.secretEnv : 'UNUSED']: cluster.dnsSecret },
    });
    const worker = await createWorker({ target: { connectionOptions: { address: server.address }, namespace: 'default' }, activities });
    const workerDone = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await workerDone;
    });
    say(`  worker        running as ${WORKER_USER}, with deploy/rbac.yaml's permissions for this plan (meshmove plan rbac)`);
    say(`                logs: ${logFile}\n`);

    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    const names = plan.approvers.map((a) => a.name);
    const starter = names[0] ?? 'operator';
    const approver = plan.fourEyes ? (names.find((a) => a !== starter) ?? starter) : starter;
    const signerOf = (name: string) => keys.get(name)?.signer;
    if (keys.size > 0) {
      say(
        `  keys          throwaway SSH keys for ${[...keys.keys()].join(' and ')}, made for this rehearsal only: ${join(opts.dataDir, 'keys')}`,
      );
      say(
        `                every decision below is signed with them (ssh-keygen -Y sign -n meshmove -f ${join(opts.dataDir, 'keys', approver)} works too)\n`,
      );
    }
    const where = {
      historyFile: join(opts.dataDir, 'history.json'),
      ui: `${server.uiUrl}/namespaces/default/workflows/${DEMO_RUN_ID}`,
      later: `meshmove dev --db ${server.db} --port ${port} --ui-port ${port + 1000}`,
    };
    // The local server stops with the demo: keep the history where the person can read it.
    const saveHistory = async (): Promise<void> => {
      await writeFile(where.historyFile, `${await runHistoryJson(client, DEMO_RUN_ID)}\n`);
    };
    const existing = await describeRun(client, DEMO_RUN_ID);
    if (existing && existing.status.name === 'RUNNING') {
      say(`Resuming run ${DEMO_RUN_ID} from the database (use --fresh to start over).`);
    } else if (existing) {
      const s = await queryStatus(client, DEMO_RUN_ID).catch(() => undefined);
      say(
        `The demo run ${DEMO_RUN_ID} already ended (${s?.phase ?? existing.status.name}). Run \`meshmove demo --fresh\` to rehearse again.`,
      );
      if (s) {
        await saveHistory();
        summarize(s, backupTarget(plan.backup), [], where);
      }
      return;
    } else {
      if (cluster.traffic?.prometheus) {
        say('Waiting for Prometheus to scrape the first requests (the baseline needs them)...');
        if (!(await cluster.traffic.untilScraped(30_000))) say('  Prometheus has not seen any request yet: the baseline may find none.');
      }
      // The demo's dev server registers the search attributes (an older database may lack them: then none).
      await startRun(client, { plan, digest: planDigest(plan) }, { by: starter, id: DEMO_RUN_ID, signer: signerOf(starter) });
      say(
        `Started run ${DEMO_RUN_ID} as ${starter}. Gates are approved as ${approver}${plan.fourEyes ? ' (four-eyes: the starter may not approve)' : ''}.`,
      );
      say(`Follow it elsewhere too: TEMPORAL_ADDRESS=${server.address} meshmove status ${DEMO_RUN_ID} --watch\n`);
    }

    const presenter = new Presenter();
    const answered = new Set<string>();
    let final: RunStatus | undefined;
    let trafficShownAt = Date.now();
    while (!interrupted) {
      const s = await queryStatus(client, DEMO_RUN_ID);
      const a = await whatWaits(client, s);
      presenter.update(s, a);
      cluster.traffic?.setPhase(s.phase);
      if (cluster.traffic && Date.now() - trafficShownAt >= 10_000) {
        presenter.note(`  ⇄ traffic ${cluster.traffic.progressLine()}`);
        trafficShownAt = Date.now();
      }
      if (TERMINAL_PHASES.includes(s.phase)) {
        final = s;
        break;
      }
      const gate = a.gates[0];
      if (gate && !answered.has(`${gate.workflowId}/${gate.digest}`)) {
        const answer = await presenter.askGate(gate, approver, opts.autoApprove === true);
        answered.add(`${gate.workflowId}/${gate.digest}`);
        await sendGateVerdict(client, DEMO_RUN_ID, gate.id, {
          ...answer,
          by: approver,
          digest: gate.digest,
          signer: signerOf(approver),
        }).catch((err: Error) => say(`    ${err.message}`));
        continue;
      }
      const d = a.decisions[0];
      if (d && !answered.has(`${d.workflowId}/${d.step}/${d.error}`)) {
        answered.add(`${d.workflowId}/${d.step}/${d.error}`);
        const answer = await presenter.askDecision(d, approver, opts.autoApprove === true);
        if (answer)
          await sendDecision(client, d, {
            decision: answer.decision,
            by: approver,
            ...(answer.reason ? { reason: answer.reason } : {}),
            signer: signerOf(approver),
            identity: s.identity,
          }).catch((err: Error) => say(`    ${err.message}`));
        continue;
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    if (final) {
      presenter.finish();
      await saveHistory();
      summarize(final, backupTarget(plan.backup), presenter.phaseDurations, where);
      if (cluster.traffic) {
        say('\n  live traffic during the rehearsal:');
        for (const line of await cluster.traffic.finish()) say(`    ${line}`);
      }
      if (final.phase !== 'completed') process.exitCode = ExitCode.failed;
    } else {
      say(`\nStopped. The run is kept in ${server.db}; \`meshmove demo\` resumes it.`);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stopAll();
  }
}

/** The demo's people's keys (`DATA/keys/NAME`), made once and kept so that a resumed run still knows them. */
async function demoKeys(
  dataDir: string,
  names: string[],
): Promise<Map<string, { publicKey: string; signer: () => Promise<DecisionSigner> }>> {
  const dir = join(dataDir, 'keys');
  await mkdir(dir, { recursive: true });
  const out = new Map<string, { publicKey: string; signer: () => Promise<DecisionSigner> }>();
  for (const name of names) {
    const file = join(dir, name);
    const publicKey = existsSync(`${file}.pub`)
      ? (await readFile(`${file}.pub`, 'utf8')).trim()
      : await writeThrowawayKey(file, `${name}@meshmove-demo`);
    out.set(name, { publicKey, signer: () => loadSigner(file, {}) });
  }
  return out;
}

function summarize(
  s: RunStatus,
  backupRoot: string,
  durations: [string, number][],
  where: { historyFile: string; ui: string; later: string },
): void {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`\n══ ${s.workflowId}: ${s.phase}${s.outcome && s.outcome !== s.phase ? ` — ${s.outcome}` : ''}`);
  const by = (state: string) => s.namespaces.filter((n) => n.state === state).map((n) => n.name);
  say(
    `  namespaces migrated: ${by('migrated').join(', ') || 'none'}${by('rolled-back').length ? `; moved back: ${by('rolled-back').join(', ')}` : ''}`,
  );
  for (const step of s.steps.filter((x) => x.summary)) say(`  ${step.title}: ${step.summary}`);
  if (durations.length) say(`  time per phase: ${durations.map(([p, ms]) => `${p} ${(ms / 1000).toFixed(1)}s`).join(', ')}`);
  say(
    `  decisions: ${
      s.audit
        .filter((a) => a.accepted)
        .map((a) => `${a.by} ${a.action}`)
        .join('; ') || 'none'
    }`,
  );
  say(`  backup: ${s.backup?.location ?? backupRoot}`);
  say(`  history: ${where.historyFile}`);
  say(`  Temporal UI: ${where.ui} (while the demo runs; to browse the run later: ${where.later})`);
}
