// The worker's Kubernetes identity as deploy/rbac.yaml names it: the ServiceAccount the in-cluster
// Deployment runs as, and the user the twin and the lab authorize with that file by default.
export const WORKER_SERVICE_ACCOUNT = { namespace: 'meshmove', name: 'meshmove-worker' } as const;
export const WORKER_USER = `system:serviceaccount:${WORKER_SERVICE_ACCOUNT.namespace}:${WORKER_SERVICE_ACCOUNT.name}`;
