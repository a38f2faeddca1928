// Structured logs for machines: pino JSON on stderr (stdout belongs to the CLI's human or --json
// output), or in a file for the demo. Level from MESHMOVE_LOG_LEVEL (default "info"; "silent" turns
// logs off).
import { pino, type Logger } from 'pino';

export type { Logger };

function rootLogger(destination: pino.DestinationStream): Logger {
  return pino(
    {
      level: process.env.MESHMOVE_LOG_LEVEL ?? 'info',
      base: { app: 'meshmove' },
      // Secrets must never reach a log line, whatever a caller passes in.
      redact: {
        paths: ['*.secret', '*.token', '*.password', '*.apiKey', '*.authorization', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}

let root: Logger | undefined;

export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  root ??= rootLogger(pino.destination(2));
  return root.child({ component, ...bindings });
}

/**
 * From now on, log to a file instead of stderr (for commands whose terminal belongs to a person,
 * like `meshmove demo`). Loggers created before keep writing to stderr: call it first.
 */
export function logToFile(path: string): void {
  root = rootLogger(pino.destination({ dest: path, append: true, mkdir: true, sync: true }));
}
