// The VM runner's public surface: kernels for each architecture, KVM detection, runInVm
// (the vm-run command line over it is cli/commands/vm-run.ts).
export { fetchArchPackage, KERNEL_SOURCES, prepareVmKernel, vmKernelCacheDir, VmArch, VmKernel, type PrepareKernelOptions } from './kernels';
export { chooseAccel, detectKvm, hostVmArch, KvmMode, KvmStatus, probeAccel, probeKvm, resetKvmCache } from './kvm';
export {
  DEFAULT_GUEST_ENV,
  runInVm,
  RunInVmOptions,
  vmRunPassed,
  VmDrive,
  VmMount,
  VmRunResult,
  VmRunStatus,
  type RunInVmInput,
} from './run-in-vm';
