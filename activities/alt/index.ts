// The alt toolchain: hasher roots and mkimage-profiles on an ALT host. Its step kinds are in
// kinds/, registered by activities/kinds/all.ts.
export { AltHost, loadAltHost, archMode, checkPriv } from './host';
export { RPM_QA_FILE, LIST_RPMS_FILE } from './kinds/build';
export { RPM_QA_COLUMNS, RPM_QUERY_FORMAT } from './rpm-list';
