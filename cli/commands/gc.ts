import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { parseDurationFlag, parseSizeFlag } from '../durations';
import { formatBytes, keysInUse } from '../../service/store-usage';
import { gcStore, StepStore } from '../../activities';
import { gcRemoteStore, type GcOptions, type GcResult } from '../../activities/store-gc';
import { gcRemoteLogs } from '../../activities/log-gc';
import { LogStore } from '../../activities/log-store';
import { openOciStore } from '../../activities/store-remote';

const usage = 'sborka gc [--max-age 14d] [--max-size 100G] [--dry-run]';

export const gcCommand: Command = {
  name: 'gc',
  summary: 'remove old store entries by age or total size; never what a running build uses',
  usage,
  async run(args, io) {
    const { values } = parseCommandArgs(
      args,
      { 'max-age': { type: 'string' }, 'max-size': { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
      usage,
    );
    if (!values['max-age'] && !values['max-size']) throw new UserError('say what to keep: --max-age and/or --max-size', EXIT.usage);
    const ctx = new CliContext();
    try {
      const protectedKeys = await keysInUse(await ctx.client());
      const options: GcOptions = {
        maxAgeMs: values['max-age'] ? parseDurationFlag('max-age', values['max-age']) : undefined,
        maxTotalBytes: values['max-size'] ? parseSizeFlag('max-size', values['max-size']) : undefined,
        protectedKeys,
        dryRun: values['dry-run'],
      };
      const verb = values['dry-run'] ? 'would remove' : 'removed';
      const report = (where: string, result: GcResult) => {
        for (const r of result.removed) io.stdout.write(`${verb} ${r.key}${r.tenant ? ` (tenant ${r.tenant})` : ''} (${r.kind}, ${formatBytes(r.bytes)}, last used ${r.lastUsed})\n`);
        io.stdout.write(
          `${where}: ${verb} ${result.removed.length} entries, ${formatBytes(result.freedBytes)}; kept ${result.keptEntries} (${formatBytes(result.keptBytes)}), ${protectedKeys.size} in use by running builds\n`,
        );
      };
      report(ctx.config.remoteStore ? 'local cache' : 'store', await gcStore(new StepStore(ctx.config.storeDir), options));
      // The registry too: the same rules over every namespace; its garbage-collect frees the blobs.
      const oci = await openOciStore(ctx.config);
      if (oci) {
        try {
          report(`remote store ${ctx.config.remoteStore!.url}`, await gcRemoteStore(oci, options));
          // Step logs go by age alone (no size budget evicts the evidence of a build).
          if (options.maxAgeMs !== undefined) {
            const logs = await gcRemoteLogs(new LogStore(oci), options);
            io.stdout.write(`remote step logs: ${verb} ${logs.removed} logs, ${formatBytes(logs.freedBytes)}; kept ${logs.kept}\n`);
          }
        } finally {
          await oci.o.client.close();
        }
      }
      return EXIT.ok;
    } finally {
      await ctx.close();
    }
  },
};
