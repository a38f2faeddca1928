// A worker in its own process the way `meshmove worker --http-address` runs it (worker/serve.ts:
// /healthz, /readyz, /metrics, graceful shutdown on SIGTERM), with the real activities on the e2e
// timings (the command itself uses a real cluster's timings; test/e2e/worker-ops.test.ts runs the
// command too). Environment:
//   MESHMOVE_E2E_ADDRESS     Temporal frontend
//   MESHMOVE_E2E_KUBECONFIG  the twin's kubeconfig
//   MESHMOVE_DNS_SECRET      the twin's DNS webhook secret
//   MESHMOVE_HTTP_ADDRESS    where to serve (HOST:0 picks a port; printed as "worker ready PORT")
//   MESHMOVE_SHUTDOWN_GRACE  the drain's grace time
import { serveWorker } from '../../../worker/serve.js';
import { parseGrace } from '../../../client/commands/worker.js';
import { realActivities } from './stack.js';

const kubeconfig = process.env.MESHMOVE_E2E_KUBECONFIG!;
const served = await serveWorker({
  target: { connectionOptions: { address: process.env.MESHMOVE_E2E_ADDRESS! }, namespace: 'default' },
  activities: realActivities(() => kubeconfig, process.env.MESHMOVE_DNS_SECRET!),
  kubeconfig,
  httpAddress: process.env.MESHMOVE_HTTP_ADDRESS!,
  shutdownGrace: parseGrace(process.env.MESHMOVE_SHUTDOWN_GRACE ?? '30s'),
});
const running = served.run();
process.stdout.write(`worker ready ${served.http!.port}\n`);
await running;
process.stdout.write('worker stopped\n');
process.exit(0);
