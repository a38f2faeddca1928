// DNS cutover activities and the provider interface, for createActivities(deps).
export {
  checkGatewayStable,
  switchDns,
  verifyDns,
  observeAddress,
  dnsSettled,
  describeAnswers,
  recordChanges,
  DnsCutoverFailure,
  type DnsDeps,
  type ResolverAnswer,
} from './cutover.js';
export {
  createDnsProvider,
  dnsRequestId,
  signBody,
  ManualDnsProvider,
  WebhookDnsProvider,
  DnsFailure,
  SIGNATURE_HEADER,
  TIMESTAMP_HEADER,
  type DnsProvider,
  type DnsRecordChange,
  type ApplyContext,
  type ApplyResult,
} from './provider.js';
