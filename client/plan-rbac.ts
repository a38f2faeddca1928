// The worker's least-privilege RBAC for one plan: deploy/rbac.yaml (written for the field report's
// names) with the plan's names put in: the two istiod namespaces, the source's injector
// configuration, istiod and gateway that decommission deletes (not the gateway when it moves in
// place), the revision tag's configuration the run points (target.tag), and the backups'
// namespace. Comments and everything else are kept as written. What `meshmove plan rbac` prints,
// and what `meshmove demo` binds its worker with.
import { Document, parseAllDocuments, YAMLMap } from 'yaml';
import { injectorWebhookConfigName, istiodServiceName, revisionTagConfigName } from '../mesh/naming.js';
import { IN_PLACE, type Plan } from '../plan/schema.js';
import { gatewayDeploymentName } from '../plan/model.js';

/** The names deploy/rbac.yaml is written with (the field report's). */
const TEMPLATE = {
  sourceRole: 'meshmove-worker-source',
  targetRole: 'meshmove-worker-target',
  backupsRole: 'meshmove-worker-backups',
  backupsNamespace: 'meshmove-backups',
  clusterRole: 'meshmove-worker',
} as const;

const ADMISSION = 'admissionregistration.k8s.io';
/** Flow collections stay on one line, as deploy/rbac.yaml writes them. */
const STYLE = { lineWidth: 0 } as const;

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs?: string[];
}

function find(docs: Document[], kind: string, name: string): Document {
  const doc = docs.find((d) => d.get('kind') === kind && d.getIn(['metadata', 'name']) === name);
  if (!doc) throw new Error(`deploy/rbac.yaml has no ${kind} ${name}: the template changed, adjust client/plan-rbac.ts`);
  return doc;
}

/** `[a, b]` in flow style, as the template writes its lists. */
function flowList(doc: Document, items: string[]): unknown {
  return doc.createNode(items, { flow: true });
}

/** A rule as the template writes one: a block map of flow lists. */
function ruleNode(doc: Document, rule: Required<Rule>): unknown {
  const node = new YAMLMap();
  for (const [k, v] of Object.entries(rule)) node.set(k, flowList(doc, v));
  return node;
}

function rules(doc: Document): Rule[] {
  return (doc.toJS() as { rules?: Rule[] }).rules ?? [];
}

/** Index of the rule granting `verb` on `resource` by resourceNames. */
function ruleIndex(doc: Document, resource: string, verb: string): number {
  const i = rules(doc).findIndex((r) => r.resources?.includes(resource) && r.verbs?.includes(verb) && r.resourceNames !== undefined);
  if (i < 0)
    throw new Error(`deploy/rbac.yaml has no rule to ${verb} ${resource} by name: the template changed, adjust client/plan-rbac.ts`);
  return i;
}

/** A Role and its RoleBinding moved to another namespace (both are named after the Role). */
function moveRole(docs: Document[], role: string, namespace: string): void {
  find(docs, 'Role', role).setIn(['metadata', 'namespace'], namespace);
  find(docs, 'RoleBinding', role).setIn(['metadata', 'namespace'], namespace);
}

export function rbacForPlan(template: string, plan: Plan): string {
  const docs = parseAllDocuments(template) as Document[];
  const { source, target } = plan;
  const gw = source.gateway;
  const gwDeployment = gatewayDeploymentName(gw);
  const keepsGateway = target.gatewayMove === IN_PLACE;

  const cluster = find(docs, 'ClusterRole', TEMPLATE.clusterRole);
  cluster.setIn(
    ['rules', ruleIndex(cluster, 'mutatingwebhookconfigurations', 'delete'), 'resourceNames'],
    flowList(cluster, [injectorWebhookConfigName(source.revision, source.istiodNamespace)]),
  );
  if (target.tag !== undefined) {
    // The run finds the tag's configuration by its istio.io/tag label; istioctl names it this way.
    cluster.addIn(
      ['rules'],
      ruleNode(cluster, {
        apiGroups: [ADMISSION],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: [revisionTagConfigName(target.tag, source.istiodNamespace)],
        verbs: ['patch'],
      }),
    );
  }

  moveRole(docs, TEMPLATE.sourceRole, source.istiodNamespace);
  const sourceRole = find(docs, 'Role', TEMPLATE.sourceRole);
  const gatewayHere = !keepsGateway && gw.namespace === source.istiodNamespace;
  const istiod = istiodServiceName(source.revision);
  sourceRole.setIn(
    ['rules', ruleIndex(sourceRole, 'deployments', 'delete'), 'resourceNames'],
    flowList(sourceRole, gatewayHere ? [istiod, gwDeployment] : [istiod]),
  );
  sourceRole.setIn(
    ['rules', ruleIndex(sourceRole, 'services', 'delete'), 'resourceNames'],
    flowList(sourceRole, gatewayHere ? [istiod, gw.service] : [istiod]),
  );
  moveRole(docs, TEMPLATE.targetRole, target.istiodNamespace);

  const extra: Document[] = [];
  if (!keepsGateway && !gatewayHere) {
    // The source gateway lives elsewhere: a Role of its own there, to delete it and nothing else.
    const name = `${TEMPLATE.sourceRole}-gateway`;
    const binding = find(docs, 'RoleBinding', TEMPLATE.sourceRole).toJS() as { subjects: unknown };
    const role = new Document({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name, namespace: gw.namespace } });
    role.set('rules', role.createNode([]));
    role.addIn(
      ['rules'],
      ruleNode(role, { apiGroups: ['apps'], resources: ['deployments'], resourceNames: [gwDeployment], verbs: ['delete'] }),
    );
    role.addIn(['rules'], ruleNode(role, { apiGroups: [''], resources: ['services'], resourceNames: [gw.service], verbs: ['delete'] }));
    role.commentBefore = " The source gateway, outside the source istiod's namespace: decommission deletes it, by name.";
    extra.push(
      role,
      new Document({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name, namespace: gw.namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
        subjects: binding.subjects,
      }),
    );
  }

  const backups = plan.backup.cluster?.namespace;
  if (backups !== undefined) {
    find(docs, 'Namespace', TEMPLATE.backupsNamespace).setIn(['metadata', 'name'], backups);
    moveRole(docs, TEMPLATE.backupsRole, backups);
  }
  // Each document as written (its own `---` dropped: one separator between them), lists in flow style.
  return [
    ...docs.map((d) => {
      if (d.directives) d.directives.docStart = null;
      return d.toString(STYLE);
    }),
    ...extra.map((d) => d.toString(STYLE)),
  ].join('---\n');
}
