// Polling the API server under test: an error it answers fails the test at once (a finding, not a
// reason to ask again), and a timeout names what was awaited.
import { waitUntilNamed } from '../support/wait-until.js';

/** What `probe` gives once it is truthy, asked every 25 ms for up to `timeout` ms. */
export function untilServer<T>(what: string, probe: () => Promise<T>, timeout: number) {
  return waitUntilNamed(what, probe, { timeout, interval: 25 });
}
