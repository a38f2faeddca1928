// The benchmark's worker in its own process (so its peak RSS is its own): the real activities
// against a twin, built as `meshmove worker` builds them (worker/worker.ts createWorker).
//   BENCH_ADDRESS      Temporal frontend
//   BENCH_KUBECONFIG   the twin's kubeconfig (the worker's service account, deploy/rbac.yaml)
//   BENCH_DNS_SECRET   the twin's DNS webhook secret
//   BENCH_TUNING       JSON of activity timings (optional; absent = the defaults a user gets)
//   BENCH_QPS          client-side rate limit, `qps/burst` (optional; absent = the default)
//   BENCH_WORKFLOW_BUNDLE  the workflows bundled beforehand, as `npm run build` bundles them for
//                      `meshmove worker` (absent: bundled at start, webpack's memory in the peak RSS)
import { createActivities } from '../activities/index.js';
import { createKubeAccess } from '../activities/kube/index.js';
import type { Tuning } from '../activities/shared/deps.js';
import { createWorker, installRuntime } from '../worker/worker.js';

installRuntime();
const kubeconfig = process.env.BENCH_KUBECONFIG!;
const qps = process.env.BENCH_QPS ? process.env.BENCH_QPS.split('/').map(Number) : undefined;
const worker = await createWorker({
  target: { connectionOptions: { address: process.env.BENCH_ADDRESS! }, namespace: 'default' },
  activities: createActivities({
    kube: (context) =>
      createKubeAccess({
        kubeconfig,
        ...(context ? { context } : {}),
        ...(qps ? { rateLimit: { qps: qps[0]!, burst: qps[1] ?? qps[0]! * 2 } } : {}),
      }),
    env: { MESHMOVE_DNS_SECRET: process.env.BENCH_DNS_SECRET! },
    ...(process.env.BENCH_TUNING ? { tuning: JSON.parse(process.env.BENCH_TUNING) as Partial<Tuning> } : {}),
  }),
  ...(process.env.BENCH_WORKFLOW_BUNDLE ? { workflowBundle: { codePath: process.env.BENCH_WORKFLOW_BUNDLE } } : {}),
});
process.stdout.write('worker ready\n');
await worker.run();
