// RBAC authorization as kube-apiserver's RBAC authorizer decides it, for the identities the twin
// is told about: the rules of (Cluster)Roles reached through (Cluster)RoleBindings, matched on
// verb, API group, resource or resource/subresource, and resourceNames. So a test can run the
// worker with exactly the permissions of deploy/rbac.yaml and see the 403 a real cluster would give.
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from './types.js';

/** What a request asks for, in RBAC's terms (kube-apiserver's RequestInfo). */
export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string | undefined;
  namespace?: string | undefined;
  name?: string | undefined;
}

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[] | undefined;
}

interface Grant {
  /** undefined: every namespace and the cluster scope (a ClusterRoleBinding). */
  namespace?: string;
  rules: PolicyRule[];
}

/** `system:serviceaccount:NS:NAME`, the user name of a service account's token. */
export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

function has(list: readonly string[] | undefined, value: string): boolean {
  return (list ?? []).some((x) => x === '*' || x === value);
}

/** One rule against one request, as rbac/v1's RuleAllows: all four must match. */
export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!has(rule.apiGroups, a.group)) return false;
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resourceOk = rule.resources.some((r) => r === '*' || r === combined || (a.subresource !== undefined && r === `*/${a.subresource}`));
  if (!resourceOk) return false;
  // resourceNames restrict to named objects: a request without a name (list, create) never matches.
  if (rule.resourceNames && rule.resourceNames.length > 0) return a.name !== undefined && rule.resourceNames.includes(a.name);
  return true;
}

export class RbacPolicy {
  private readonly grants = new Map<string, Grant[]>();

  /** Reads ClusterRole, Role, ClusterRoleBinding and RoleBinding objects; other kinds are ignored. */
  static fromObjects(objects: readonly KubeObject[]): RbacPolicy {
    const policy = new RbacPolicy();
    const rulesOf = (o: KubeObject | undefined): PolicyRule[] => (o as { rules?: PolicyRule[] } | undefined)?.rules ?? [];
    const clusterRoles = new Map(objects.filter((o) => o.kind === 'ClusterRole').map((o) => [o.metadata.name!, o]));
    const roles = new Map(objects.filter((o) => o.kind === 'Role').map((o) => [`${o.metadata.namespace ?? ''}/${o.metadata.name!}`, o]));
    for (const b of objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding')) {
      const binding = b as KubeObject & {
        roleRef: { kind: string; name: string };
        subjects?: Array<{ kind: string; name: string; namespace?: string }>;
      };
      const bindingNs = b.kind === 'RoleBinding' ? (b.metadata.namespace ?? 'default') : undefined;
      const role =
        binding.roleRef.kind === 'ClusterRole' ? clusterRoles.get(binding.roleRef.name) : roles.get(`${bindingNs}/${binding.roleRef.name}`);
      // A binding to a role that does not exist grants nothing (as in a real cluster).
      const rules = rulesOf(role);
      for (const s of binding.subjects ?? []) {
        const user =
          s.kind === 'ServiceAccount'
            ? serviceAccountUser(s.namespace ?? bindingNs ?? 'default', s.name)
            : s.kind === 'User'
              ? s.name
              : undefined;
        if (!user) continue;
        const list = policy.grants.get(user) ?? [];
        list.push({ ...(bindingNs !== undefined ? { namespace: bindingNs } : {}), rules });
        policy.grants.set(user, list);
      }
    }
    return policy;
  }

  /** From a multi-document YAML file such as deploy/rbac.yaml. */
  static fromYaml(text: string): RbacPolicy {
    const docs = parseAllDocuments(text);
    const bad = docs.find((d) => d.errors.length > 0);
    if (bad) throw new Error(`not valid YAML: ${bad.errors[0]!.message}`);
    const objects = docs.map((d) => d.toJS() as KubeObject | null).filter((o): o is KubeObject => o !== null && typeof o === 'object');
    return RbacPolicy.fromObjects(objects);
  }

  grantsAnything(user: string): boolean {
    return (this.grants.get(user) ?? []).some((g) => g.rules.length > 0);
  }

  allows(user: string, a: RequestAttributes): boolean {
    return (this.grants.get(user) ?? []).some(
      (g) => (g.namespace === undefined || g.namespace === a.namespace) && g.rules.some((r) => ruleAllows(r, a)),
    );
  }

  /** The reason kube-apiserver gives in a 403. */
  static denial(user: string, a: RequestAttributes): string {
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
    return `User "${user}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`;
  }
}

/**
 * Who is asking, from the bearer token, and whether RBAC lets them. The twin's own token (and no
 * token) is the cluster admin, as a kubeconfig with system:masters would be: the Istio layer and
 * kubectl use it. Tokens issued here are authorized by the policy; any other token is a 401.
 * kubectl sends a bearer token only over HTTPS (over plain HTTP it asks as the admin here), so a
 * twin that restricts kubectl users serves HTTPS; client-node sends it either way.
 */
export class Authorization {
  private readonly users = new Map<string, string>();
  private policy = new RbacPolicy();

  constructor(private readonly adminToken: string) {}

  setPolicy(policy: RbacPolicy): void {
    this.policy = policy;
  }

  /** A bearer token for `user`, whose requests the policy then decides. */
  issueToken(user: string): string {
    const token = `${user.replace(/[^a-z0-9]+/gi, '-')}-${crypto.randomUUID()}`;
    this.users.set(token, user);
    return token;
  }

  /** Who sends a request with this Authorization header: the token's user, `admin` for the admin token or none, `unknown` for a token not issued here. */
  userOf(authorizationHeader: string | undefined): string {
    const token = /^Bearer\s+(.+)$/i.exec(authorizationHeader ?? '')?.[1]?.trim();
    if (token === undefined || token === this.adminToken) return 'admin';
    return this.users.get(token) ?? 'unknown';
  }

  /**
   * undefined: allowed. Otherwise the status and message to answer with. Several verbs: all are
   * needed (a WebSocket port-forward is a GET that kube-apiserver also checks for `create`).
   */
  check(
    authorizationHeader: string | undefined,
    a: RequestAttributes,
    verbs: readonly string[] = [a.verb],
  ): { code: 401 | 403; user?: string; message: string } | undefined {
    const token = /^Bearer\s+(.+)$/i.exec(authorizationHeader ?? '')?.[1]?.trim();
    if (token === undefined || token === this.adminToken) return undefined;
    const user = this.users.get(token);
    if (!user) return { code: 401, message: 'Unauthorized' };
    for (const verb of verbs) {
      const asked = { ...a, verb };
      if (!this.policy.allows(user, asked)) return { code: 403, user, message: RbacPolicy.denial(user, asked) };
    }
    return undefined;
  }
}
