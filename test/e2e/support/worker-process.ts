// A worker with the REAL activities in its own process, for crash tests:
//   MESHMOVE_E2E_ADDRESS     Temporal frontend
//   MESHMOVE_E2E_KUBECONFIG  the twin's kubeconfig (the plan's cluster.context picks the context)
//   MESHMOVE_DNS_SECRET      the twin's DNS webhook secret (the plan's dns.provider.secretEnv)
//   MESHMOVE_E2E_TUNING      JSON of activity timings (optional)
import { NativeConnection, Worker } from '@temporalio/worker';
import { TASK_QUEUE } from '../../../workflows/messages.js';
import { installRuntime } from '../../../worker/worker.js';
import { workflowsPath } from '../../../worker/bundle.js';
import type { Tuning } from '../../../activities/shared/deps.js';
import { realActivities } from './stack.js';

installRuntime();
const connection = await NativeConnection.connect({ address: process.env.MESHMOVE_E2E_ADDRESS! });
const worker = await Worker.create({
  connection,
  taskQueue: TASK_QUEUE,
  workflowsPath: workflowsPath(),
  activities: realActivities(
    () => process.env.MESHMOVE_E2E_KUBECONFIG!,
    process.env.MESHMOVE_DNS_SECRET!,
    process.env.MESHMOVE_E2E_TUNING ? (JSON.parse(process.env.MESHMOVE_E2E_TUNING) as Partial<Tuning>) : undefined,
  ),
});
process.stdout.write('worker ready\n');
await worker.run();
