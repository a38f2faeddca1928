// The signature of a meshmove webhook request, for the activity that sends it and for receivers.
//
//   X-Meshmove-Timestamp: 1767024000            (Unix seconds when the request was signed)
//   X-Meshmove-Signature: v1=<hex>              (HMAC-SHA256 with the shared secret over
//                                                "<timestamp>.<raw request body>")
//
// A receiver recomputes the HMAC over the timestamp header, a ".", and the body exactly as received,
// compares it in constant time with the hex after "v1=", and refuses a timestamp more than a few
// minutes away from its clock (a replayed request). X-Meshmove-Delivery is the same on every retry of
// one notification: a receiver that saw it already answers 2xx and does nothing.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-meshmove-timestamp';
export const SIGNATURE_HEADER = 'x-meshmove-signature';
export const EVENT_HEADER = 'x-meshmove-event';
export const DELIVERY_HEADER = 'x-meshmove-delivery';
export const SIGNATURE_VERSION = 'v1';

export function signBody(secret: string, timestamp: number, body: string): string {
  return `${SIGNATURE_VERSION}=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * Whether `signature` is the v1 signature of `body` at `timestamp` with `secret`, and the timestamp
 * within `toleranceS` of `nowS`. Returns why not, or null when it verifies.
 */
export function verifySignature(
  secret: string,
  timestamp: string | undefined,
  body: string,
  signature: string | undefined,
  nowS = Math.floor(Date.now() / 1000),
  toleranceS = 300,
): string | null {
  if (!timestamp || !/^\d+$/.test(timestamp)) return `missing or malformed ${TIMESTAMP_HEADER}`;
  if (Math.abs(nowS - Number(timestamp)) > toleranceS) return `${TIMESTAMP_HEADER} is more than ${toleranceS}s from now`;
  const given = signature
    ?.split(',')
    .map((s) => s.trim())
    .find((s) => s.startsWith(`${SIGNATURE_VERSION}=`));
  if (!given) return `missing ${SIGNATURE_HEADER} (${SIGNATURE_VERSION}=...)`;
  const expected = Buffer.from(signBody(secret, Number(timestamp), body));
  const got = Buffer.from(given);
  return got.length === expected.length && timingSafeEqual(got, expected) ? null : 'signature mismatch';
}
