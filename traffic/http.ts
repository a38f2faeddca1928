// The only place the load generator touches the network: one HTTP/1.1 exchange with an IP address
// already checked by the caller. A fresh connection per request (no keep-alive pool), so every
// request follows the address just resolved and no idle-connection race adds failures the service
// did not cause.
import { request } from 'node:http';
import { TrafficFailure } from './failures.js';

export interface HttpExchange {
  /** IP literal, already resolved and checked. */
  address: string;
  port: number;
  method: 'GET' | 'POST';
  path: string;
  /** The Host header (the name the client thinks it talks to). */
  host: string;
  body?: string;
  timeoutMs: number;
  /** Response header whose value explains a failure (e.g. the twin's gateway reason). */
  reasonHeader?: string;
  /** Bytes of the response body kept (the rest is read and discarded). */
  keepBodyBytes?: number;
}

export type HttpOutcome =
  | { kind: 'response'; status: number; body: string; reason?: string }
  | { kind: typeof TrafficFailure.Timeout | typeof TrafficFailure.Connection; reason: string };

export type HttpSend = (x: HttpExchange) => Promise<HttpOutcome>;

export const sendHttp: HttpSend = (x) =>
  new Promise((resolve) => {
    let settled = false;
    const finish = (o: HttpOutcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const headers: Record<string, string> = { Host: x.host, Connection: 'close', 'User-Agent': 'meshmove-traffic' };
    if (x.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(x.body));
    }
    const req = request({ host: x.address, port: x.port, method: x.method, path: x.path, headers, agent: false, setHost: false }, (res) => {
      const keep = x.keepBodyBytes ?? 0;
      const chunks: Buffer[] = [];
      let kept = 0;
      res.on('data', (c: Buffer) => {
        if (kept < keep) {
          chunks.push(c.subarray(0, keep - kept));
          kept += Math.min(c.length, keep - kept);
        }
      });
      res.on('end', () => {
        const h = x.reasonHeader ? res.headers[x.reasonHeader.toLowerCase()] : undefined;
        const reason = typeof h === 'string' ? h : undefined;
        finish({
          kind: 'response',
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          ...(reason ? { reason } : {}),
        });
      });
      res.on('error', (err) => finish({ kind: TrafficFailure.Connection, reason: `response broken: ${errorText(err)}` }));
      res.on('aborted', () => finish({ kind: TrafficFailure.Connection, reason: 'response aborted' }));
    });
    const timer = setTimeout(() => {
      finish({ kind: TrafficFailure.Timeout, reason: `no response within ${x.timeoutMs} ms` });
      req.destroy();
    }, x.timeoutMs);
    req.on('error', (err) => finish({ kind: TrafficFailure.Connection, reason: errorText(err) }));
    req.end(x.body);
  });

function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
