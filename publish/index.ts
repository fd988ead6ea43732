// Pure publishing helpers: templates and confinement, OCI digests and indexes, retention,
// configuration schema. No I/O besides hashing buffers.
export * from './template';
export * from './oci';
export * from './retention';
export * from './sums';
export * from './config-schema';
export * from './targets';
