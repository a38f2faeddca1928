// Entry point of the `meshmove` command.
import { runCli } from './program.js';

const code = await runCli(process.argv.slice(2));
// Connections (gRPC, Kubernetes watches) may hold the event loop open: exit once output is flushed.
process.stdout.write('', () => process.exit(code));
