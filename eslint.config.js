// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    // Type-aware rules for the product's code: a promise nobody awaits is a step that may run after
    // its caller moved on (in a workflow, a command Temporal never sees in order) or an error nobody
    // handles. The project service gives these rules the compiler's types.
    files: [
      'workflows/**/*.ts',
      'activities/**/*.ts',
      'worker/**/*.ts',
      'client/**/*.ts',
      'plan/**/*.ts',
      'mesh/**/*.ts',
      'logging/**/*.ts',
      'traffic/**/*.ts',
      'kube-retry/**/*.ts',
    ],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    // The worker repeats each running activity's last heartbeat details (keepHeartbeating, run by
    // worker/worker.ts); it knows them only when they go through heartbeatIfActivity. A direct
    // heartbeat would be overwritten by the repeat of older details.
    files: ['activities/**/*.ts'],
    ignores: ['activities/shared/waiting.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@temporalio/activity',
              importNames: ['heartbeat'],
              message: 'Use heartbeatIfActivity (activities/shared/waiting.ts): the worker repeats the details it records.',
            },
          ],
        },
      ],
    },
  },
  {
    // The twin is the referee of meshmove's rehearsals: it reproduces the behaviour of kube-apiserver
    // and istiod that test/lab/twin-vs-real.test.ts and test/lab/apiserver-vs-twin.test.ts pin, and
    // never decides with the product's own functions (a wrong rule in mesh/ would be copied into the
    // simulator and every end-to-end test would still pass). Istio's label, annotation, ConfigMap
    // and port names stay shared: they are Istio's API, spelled once, and pinned by the lab tests.
    // kube-retry/ is allowed (no pattern below names it): when to send a request again is HTTP's
    // rule, not an Istio decision, and the twin's components retry like the product's transport.
    files: ['twin/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/mesh/*', '!**/mesh/naming.js'],
              message:
                "The twin must not decide with the product's mesh/ functions: implement Istio's or Kubernetes' behaviour in twin/ (pinned by test/lab).",
            },
            {
              group: ['**/mesh/naming.js'],
              allowImportNames: ['IstioLabel', 'IstioAnnotation', 'CA_ROOT_CONFIGMAP', 'CA_ROOT_CERT_KEY', 'MESH_CONFIG_KEY', 'IstiodPort'],
              message:
                "Only Istio's well-known names (labels, annotations, ConfigMap keys, ports) may come from mesh/naming.ts; object names a chart renders are decided in twin/istio/chart.ts.",
            },
            {
              group: [
                '**/activities',
                '**/activities/**',
                '**/workflows',
                '**/workflows/**',
                '**/plan',
                '**/plan/**',
                '**/client/**',
                '**/worker/**',
              ],
              message: 'The twin is a cluster: it must not import the product.',
            },
          ],
        },
      ],
    },
  },
  {
    // kube-retry/ is shared by the product's transport and the twin: it must depend on neither.
    files: ['kube-retry/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/activities/**', '**/workflows/**', '**/client/**', '**/worker/**', '**/plan/**', '**/mesh/**', '**/twin/**'],
              message: 'kube-retry/ holds HTTP retry rules only: it imports neither the product nor the twin.',
            },
          ],
        },
      ],
    },
  },
  {
    // Workflow code runs in Temporal's deterministic sandbox and is replayed: no I/O, no Node
    // builtins, no value imports of activities, clients or the Kubernetes library. Activity types
    // are imported with `import type` and called through proxyActivities.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflow code must not use Node builtins (determinism).' })),
          patterns: [
            {
              // activities/failures.ts is pure constants (the failure catalog) the retry policies use.
              regex: '(^|/)activities(/(?!failures\\.js$).*)?$',
              allowTypeImports: true,
              message: 'Import activities type-only and call them through proxyActivities.',
            },
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity', '@temporalio/testing'],
              message: 'Workflow code may only use @temporalio/workflow and @temporalio/common.',
            },
            { group: ['@kubernetes/*', 'pino', 'ws', 'dns-packet', 'yaml', 'commander'], message: 'No I/O libraries in workflow code.' },
            {
              group: ['**/client/**', '**/worker/**', '**/twin/**'],
              message: 'Workflow code must not import clients, workers or the simulated cluster.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'Use sleep() from @temporalio/workflow.' },
        { name: 'setInterval', message: 'Use sleep() in a loop from @temporalio/workflow.' },
        { name: 'process', message: 'No process access in workflow code.' },
        { name: 'fetch', message: 'No I/O in workflow code: call an activity.' },
      ],
    },
  },
);
