// Structured logs for machines: pino JSON on stderr (stdout belongs to the CLI's human or --json
// output). Level from MESHMOVE_LOG_LEVEL (default "info"; "silent" turns logs off).
import { pino, type Logger } from 'pino';

export type { Logger };

const root = pino({
  level: process.env.MESHMOVE_LOG_LEVEL ?? 'info',
  base: { app: 'meshmove' },
  // Secrets must never reach a log line, whatever a caller passes in.
  redact: { paths: ['*.secret', '*.token', '*.password', '*.apiKey', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
}, pino.destination(2));

export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return root.child({ component, ...bindings });
}
