// License verification on the worker: the verify-licenses kind and what it is made of.
export { verifyLicensesKind, VerifyLicensesParams, REPORT_FILES, type LicenseKindOptions } from './kind';
export { extractDebian, extractRpm } from './extract';
export { unpackRoot, rootCandidates, readInRoot } from './root-source';
