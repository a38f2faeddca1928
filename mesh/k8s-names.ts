// Kubernetes' name rules (k8s.io/apimachinery/pkg/util/validation), in one place for the plan's
// schema, the backup store, the snapshot and the label selectors: a namespace name is a DNS-1123
// label; a label key is an optional DNS-1123 subdomain prefix and `/`, then a qualified name; a
// label value is empty or a qualified name of at most 63 characters.

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** A DNS-1123 label (namespace names, most object names): 1-63 of [a-z0-9-], alphanumeric at both ends. */
export function isDns1123Label(s: string): boolean {
  return s.length > 0 && s.length <= 63 && DNS1123_LABEL.test(s);
}

/** A DNS-1123 subdomain: dot-separated labels, at most 253 characters. */
export function isDns1123Subdomain(s: string): boolean {
  return s.length > 0 && s.length <= 253 && DNS1123_SUBDOMAIN.test(s);
}

/** A qualified name: optional DNS-1123 subdomain prefix and `/`, then a name of at most 63 chars. */
export function isValidLabelKey(k: string): boolean {
  const parts = k.split('/');
  if (parts.length > 2) return false;
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2 && !isDns1123Subdomain(parts[0]!)) return false;
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME_PART.test(name);
}

/** Empty is valid; otherwise at most 63 chars, alphanumeric at both ends, `-_.` inside. */
export function isValidLabelValue(v: string): boolean {
  return v === '' || (v.length <= 63 && QUALIFIED_NAME_PART.test(v));
}
