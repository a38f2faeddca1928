// Run by `npm run build` after tsc: bundles the compiled workflows once into dist/workflows.bundle.js,
// which `meshmove worker`, `dev` and `demo` load instead of running webpack at every start.
import { writeFileSync } from 'node:fs';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { bundleFile, workflowInterceptorsPath, workflowsPath } from './bundle.js';

const { code } = await bundleWorkflowCode({
  workflowsPath: workflowsPath(),
  workflowInterceptorModules: [workflowInterceptorsPath()],
  logger: new DefaultLogger('WARN'),
});
writeFileSync(bundleFile(), code);
process.stderr.write(`workflows bundled into ${bundleFile()} (${(code.length / 1e6).toFixed(1)} MB)\n`);
