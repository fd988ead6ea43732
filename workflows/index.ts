// The workflows a worker runs (its workflowsPath points here).
export { BuildProduct } from './build-product';
export { BuildVariant } from './build-variant';
