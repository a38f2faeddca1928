// A worker in its own process, for crash tests: MESHMOVE_TEST_ADDRESS (Temporal),
// MESHMOVE_TEST_CLUSTER_URL (the test's fake cluster), MESHMOVE_TEST_ACTIVITIES (comma list).
import { NativeConnection, Worker } from '@temporalio/worker';
import { TASK_QUEUE } from '../../workflows/messages.js';
import { installRuntime } from '../../worker/worker.js';
import { workflowsPath } from '../../worker/bundle.js';
import { rpcActivities } from './rpc-activities.js';

installRuntime();
const connection = await NativeConnection.connect({ address: process.env.MESHMOVE_TEST_ADDRESS! });
const worker = await Worker.create({
  connection,
  taskQueue: TASK_QUEUE,
  workflowsPath: workflowsPath(),
  activities: rpcActivities(process.env.MESHMOVE_TEST_CLUSTER_URL!, process.env.MESHMOVE_TEST_ACTIVITIES!.split(',')),
});
process.stdout.write('worker ready\n');
await worker.run();
