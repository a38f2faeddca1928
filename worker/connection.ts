// The Temporal connection, configured the way Temporal's own tools are: TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and the profiles in
// ~/.config/temporalio/temporal.toml (@temporalio/envconfig). Defaults: localhost:7233, "default".
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';

export interface TemporalTarget {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
}

export function temporalTarget(overrides: { address?: string; namespace?: string } = {}): TemporalTarget {
  const cfg = loadClientConnectConfig();
  const connectionOptions: NativeConnectionOptions = { ...cfg.connectionOptions };
  if (overrides.address) connectionOptions.address = overrides.address;
  connectionOptions.address ??= 'localhost:7233';
  return { connectionOptions, namespace: overrides.namespace ?? cfg.namespace ?? 'default' };
}
