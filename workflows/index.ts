// The workflows the worker registers.
export { migrationWorkflow } from './migration.js';
export { namespaceWorkflow } from './namespace.js';
