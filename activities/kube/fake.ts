// For unit tests: a KubeAccess built from only the methods a test needs. Any other method throws
// naming itself, so a test never passes because an unexpected call silently returned nothing.
import type { KubeAccess } from './types.js';

export function partialKubeAccess(impl: Partial<KubeAccess>, contextName = 'fake'): KubeAccess {
  return new Proxy({ contextName, server: 'fake://', ...impl } as KubeAccess, {
    get(target, prop, receiver) {
      if (prop in target) return Reflect.get(target, prop, receiver) as unknown;
      if (typeof prop === 'symbol' || prop === 'then') return undefined;
      return () => Promise.reject(new Error(`fake KubeAccess: ${String(prop)} was called but the test did not provide it`));
    },
  });
}
