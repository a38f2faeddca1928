// The Istio config kinds the migration reads and backs up, under their served group/versions
// (networking v1beta1 is served by every Istio from 1.8 on, 1.16 included).
import type { CustomResourceRef } from './types.js';

export interface IstioResource extends CustomResourceRef {
  kind: string;
}

export const ISTIO_RESOURCES: readonly IstioResource[] = [
  { group: 'networking.istio.io', version: 'v1beta1', plural: 'gateways', kind: 'Gateway' },
  { group: 'networking.istio.io', version: 'v1beta1', plural: 'virtualservices', kind: 'VirtualService' },
  { group: 'networking.istio.io', version: 'v1beta1', plural: 'destinationrules', kind: 'DestinationRule' },
  { group: 'networking.istio.io', version: 'v1beta1', plural: 'serviceentries', kind: 'ServiceEntry' },
  { group: 'networking.istio.io', version: 'v1beta1', plural: 'sidecars', kind: 'Sidecar' },
  { group: 'security.istio.io', version: 'v1beta1', plural: 'peerauthentications', kind: 'PeerAuthentication' },
  { group: 'security.istio.io', version: 'v1beta1', plural: 'authorizationpolicies', kind: 'AuthorizationPolicy' },
];
