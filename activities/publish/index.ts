// Publishing: the `publish` step kind, the preflight activity and promotion.
export { publishKind, type PublishKindDeps } from './kind';
export { createPublishActivities, preflightPublish, type PreflightCheck, type PublishActivities } from './preflight';
export { promoteBuild, type PromoteResult } from './promote';
export { loadPublishConfig } from './config';
