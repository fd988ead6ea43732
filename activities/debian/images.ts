// The debian toolchain's image kinds: `build` (one writer per output format) and `test`
// (boot, run, reproducible).
import { defineKind } from '../kinds/registry';
import { runBootTest, runRunTest } from './boot';
import { runReproducibleTest } from './reproducible';
import { readSigningKey, signingKeyDigest } from './secure-boot-key';
import { planSeed, rootSourceFrom, writerContext, writerFor, type ImageRequest } from './writers';

/**
 * Outputs: the image at params.fileName. Values: format, file, sha256, size, the writer's
 * details (img: rootUuid, diskId, bootloader, kernel, cmdline …; oci: manifestDigest …), and
 * what it was built from (rootfs: step, store key, sha256; output; arch; branch), which the
 * boot and reproducible tests read.
 */
export const debianBuildKind = defineKind('build', async (ctx, params) => {
  const src = rootSourceFrom(ctx.step.id, ctx.inputs);
  const sb = params.output.secureBoot;
  // The recipe's Secure Boot key is read and checked once, before any writer runs (secure-boot-key.ts).
  const signing = typeof sb === 'object' ? await readSigningKey(ctx.step.id, sb, params.recipeDir, ctx.config) : undefined;
  const req: ImageRequest = { output: params.output, fileName: params.fileName, arch: params.arch, branch: params.branch, seed: planSeed(params), ...(signing ? { signing } : {}) };
  const written = await writerFor(params.output.format)(writerContext(ctx), src, req, ctx.outputsDir);
  return {
    values: {
      ...written.values,
      arch: params.arch, branch: params.branch, output: params.output,
      rootfs: { step: src.step, key: src.key, sha256: src.rootfsSha256, sourceDateEpoch: src.sourceDateEpoch },
    },
    // The writer hashed its image (or took an input's digest): the store need not read it again.
    digests: { [written.values.file]: written.values.sha256 },
  };
}, async (params, config) => {
  // A new Secure Boot key or cert builds a new image: their digest joins the cache key.
  const sb = params.output.secureBoot;
  return typeof sb === 'object' ? signingKeyDigest('build', sb, params.recipeDir, config) : undefined;
});

/** Outputs: console.log and result.json (and the command's stdout/stderr for `run`); a failed expectation throws PolicyViolation. */
export const debianTestKind = defineKind('test', async (ctx, params) => {
  switch (params.test.type) {
    case 'boot':
      return runBootTest(ctx, params.arch, params.test);
    case 'run':
      return runRunTest(ctx, params.arch, params.test);
    case 'reproducible':
      return runReproducibleTest(ctx);
  }
});
