// `sborka store verify [--quarantine]`: checks every store entry against its manifest and
// seal, prints each bad one with the reason, and exits 1 when any is bad.
import { parseCommandArgs } from '../args';
import { EXIT, UserError, type Command } from '../command';
import { CliContext } from '../context';
import { StepStore } from '../../activities/store';
import { auditStore } from '../../activities/store-audit';
import { openOciStore } from '../../activities/store-remote';
import { formatBytes, storeUsage } from '../../service/store-usage';

const usage = 'sborka store verify [--quarantine] | sborka store usage [--json]';

export const storeCommand: Command = {
  name: 'store',
  summary: 'check every store entry against its manifest and seal (verify), or show what each tenant holds (usage)',
  usage,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (sub === 'usage') {
      const { values } = parseCommandArgs(rest, { json: { type: 'boolean', default: false } }, usage);
      const config = new CliContext().config;
      const oci = await openOciStore(config);
      try {
        const result = await storeUsage(new StepStore(config.storeDir), oci);
        if (values.json) io.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        for (const [where, rows] of values.json ? [] : ([['local', result.local], ['remote', result.remote ?? []]] as const)) {
          for (const r of rows) io.stdout.write(`${where} ${r.tenant ?? '(shared)'}: ${r.entries} entries, ${formatBytes(r.bytes)}\n`);
        }
      } finally {
        await oci?.o.client.close();
      }
      return EXIT.ok;
    }
    if (sub !== 'verify') throw new UserError(`say what to do with the store: ${usage}`, EXIT.usage);
    const { values } = parseCommandArgs(rest, { quarantine: { type: 'boolean', default: false } }, usage);
    const ctx = new CliContext();
    const storeDir = ctx.config.storeDir;
    const tty = Boolean(io.stderr.isTTY);
    const result = await auditStore(new StepStore(storeDir, { logger: ctx.logger('store') }), {
      quarantine: values.quarantine,
      onEntry: (e, done, total) => {
        if (tty) io.stderr.write(`\r\x1b[Kverifying ${done}/${total}`);
        if (e.reason === undefined) return;
        if (tty) io.stderr.write('\r\x1b[K');
        const where = e.tenant === undefined ? '' : ` (tenant ${e.tenant})`;
        io.stdout.write(`bad ${e.key}${where}: ${e.reason}${e.movedTo ? `; quarantined to ${e.movedTo}` : ''}\n`);
      },
    });
    if (tty) io.stderr.write('\r\x1b[K');
    const quarantined = result.bad.filter((b) => b.movedTo).length;
    io.stdout.write(`checked ${result.checked} entries in ${storeDir}: ${result.bad.length} bad${values.quarantine ? `, ${quarantined} quarantined` : ''}\n`);
    return result.bad.length > 0 ? EXIT.failed : EXIT.ok;
  },
};
