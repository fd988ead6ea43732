// The debian toolchain: mmdebstrap roots and our own image writers. Its step kinds (one
// file each: resolve, prepare-root, configure; build and test in images.ts) are
// registered by activities/kinds/all.ts.
export { Lock, LOCK_FILE } from './lock';
export { ROOTFS } from './prepare-root';
