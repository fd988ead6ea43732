// Search attributes every build run carries, so builds can be listed by them. The
// embedded server registers them at start (service/temporal-server.ts); a cluster's
// operator registers them once with `temporal operator search-attribute create`.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA_PRODUCT = defineSearchAttributeKey('SborkaProduct', SearchAttributeType.KEYWORD);
/** "community", "maintainer:<team>" or "partner:<name>". */
export const SA_OWNER = defineSearchAttributeKey('SborkaOwner', SearchAttributeType.KEYWORD);
/** Every arch of the build (a keyword list on BuildProduct, one on BuildVariant). */
export const SA_ARCH = defineSearchAttributeKey('SborkaArch', SearchAttributeType.KEYWORD_LIST);
/** running, waiting, succeeded, failed, cancelled. */
export const SA_STATE = defineSearchAttributeKey('SborkaState', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [SA_PRODUCT, SA_OWNER, SA_ARCH, SA_STATE] as const;
