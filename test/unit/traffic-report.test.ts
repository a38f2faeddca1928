// The human rendering of a load run: the verdict first, numbers a reader can check, stable order.
import { describe, expect, it } from 'vitest';
import type { LoadReport } from '../../traffic/load.js';
import { renderLoadReport, renderProgressLine } from '../../traffic/report.js';

const clean: LoadReport = {
  startedAt: '2025-01-01T10:00:00.000Z',
  elapsedMs: 12_345,
  running: false,
  stopReason: 'maxDuration',
  sent: 600,
  ok: 600,
  failed: 0,
  dropped: 0,
  refused: 0,
  inFlight: 0,
  byStatus: { '200': 600 },
  byPhase: { before: { sent: 200, failed: 0 }, after: { sent: 400, failed: 0 } },
  byAddress: { '127.0.0.10': 250, '127.0.0.20': 350 },
  latencyMs: { p50: 1.2, p90: 2.5, p99: 4.1, max: 9.87 },
  failures: [],
  perTarget: { 'shop.y7test.com:18080/': { sent: 600, ok: 600, failed: 0, dropped: 0 } },
};

describe('renderLoadReport', () => {
  it('says "zero failed requests" with the numbers, addresses largest first, and a table', () => {
    expect(renderLoadReport(clean)).toBe(
      [
        'Load ended (maxDuration) after 12.3 s from 2025-01-01T10:00:00.000Z: zero failed requests. 600 sent, 600 ok, 0 failed (0%), 0 dropped.' +
          ' Latency p50 1.2 ms, p90 2.5 ms, p99 4.1 ms, max 9.87 ms. Statuses: 200 ×600. Sent to: 127.0.0.20 (350), 127.0.0.10 (250).',
        '',
        '                               sent  failed  dropped',
        'target shop.y7test.com:18080/   600       0        0',
        'phase before                    200       0',
        'phase after                     400       0',
      ].join('\n'),
    );
  });

  it('lists failures, no-response statuses and refusals', () => {
    const text = renderLoadReport({
      ...clean,
      ok: 597,
      failed: 3,
      refused: 1,
      dropped: 2,
      running: true,
      inFlight: 1,
      byStatus: { '200': 597, '503': 2, '0': 1 },
      failures: [
        {
          at: '2025-01-01T10:00:05.000Z',
          target: 'api',
          status: 503,
          kind: 'http-status',
          reason: 'HTTP 503: no healthy upstream',
          phase: 'cutover',
          address: '127.0.0.10',
        },
        {
          at: '2025-01-01T10:00:06.000Z',
          target: 'far',
          status: 0,
          kind: 'refused',
          reason: 'refused: far is 192.0.2.1',
          phase: 'cutover',
        },
      ],
    });
    expect(text).toMatch(
      /^Load running after 12\.3 s .*: 3 failed, 2 dropped\. 600 sent, 597 ok, 3 failed \(0\.50%\), 1 refused as non-loopback, 2 dropped, 1 in flight\./,
    );
    expect(text).toContain('Statuses: 200 ×597, 503 ×2, no response ×1.');
    expect(text).toContain(
      'First 2 failures:\n  2025-01-01T10:00:05.000Z  [cutover] api  503  http-status: HTTP 503: no healthy upstream\n  2025-01-01T10:00:06.000Z  [cutover] far  no response  refused: refused: far is 192.0.2.1',
    );
  });
});

describe('renderProgressLine', () => {
  it('fits the counters on one line', () => {
    expect(renderProgressLine({ ...clean, failed: 1, inFlight: 2 })).toBe(
      '[12.3 s]  sent 600  ok 600  failed 1  dropped 0  in-flight 2  p99 4.1 ms  → 127.0.0.20:350, 127.0.0.10:250',
    );
    expect(renderProgressLine({ ...clean, byAddress: {} })).not.toContain('→');
  });
});
