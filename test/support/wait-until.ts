// vi.waitUntil, with the failure naming what was awaited. For waits where an error is a finding,
// not a reason to ask again: vi.waitUntil fails at once when the probe throws (vi.waitFor would
// ask again), and on a timeout says only "Timed out in waitUntil!", which `what` completes.
import { expect, vi } from 'vitest';

/** What `probe` gives once it is truthy, asked every `interval` ms for up to `timeout` ms. */
export async function waitUntilNamed<T>(what: string, probe: () => T | Promise<T>, options: { timeout: number; interval: number }) {
  const found = vi.waitUntil(probe, options);
  await expect(found, `waiting for ${what}`).resolves.toBeTruthy();
  return found;
}
