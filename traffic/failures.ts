// One catalog of the ways a request of the load can fail, so reports, tests and the CLI group
// failures by kind instead of matching free-text reasons.
export const TrafficFailure = {
  /** The name did not resolve (NXDOMAIN, no answer, resolver unreachable). Not cached: retried. */
  Resolve: 'resolve',
  /** The address is outside loopback and allowNonLoopback is false: nothing was sent. */
  Refused: 'refused',
  /** No response before timeoutMs. */
  Timeout: 'timeout',
  /** The connection failed or broke before a full response (ECONNREFUSED, ECONNRESET, …). */
  Connection: 'connection',
  /** An HTTP response outside 2xx/3xx. */
  HttpStatus: 'http-status',
  /** The mesh call endpoint itself failed or answered something that is not a call result. */
  CallEndpoint: 'call-endpoint',
  /** The in-mesh call the endpoint made got no HTTP response (status 0 in its answer). */
  MeshNoResponse: 'mesh-no-response',
} as const;
export type TrafficFailure = (typeof TrafficFailure)[keyof typeof TrafficFailure];

/** 2xx and 3xx count as served, as a browser or curl -f would see it. */
export function isOkStatus(status: number): boolean {
  return status >= 200 && status < 400;
}
