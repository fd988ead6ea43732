// Benchmark of the recipe compiler: 2,000 generated products (3 arches, 3 outputs each,
// `extends` chains of depth 5), timing parse, check and plan separately. Prints JSON.
// Run: npx tsc -p . && node build/bench/dsl/run.js
import { compile } from '../../dsl/compile';
import { parseRecipe } from '../../dsl/parse';
import { planProduct } from '../../dsl/planner';

const PRODUCTS = Number(process.env.BENCH_PRODUCTS ?? 2000);
const DEPTH = 5;

function generate(): Record<string, string> {
  const files: Record<string, string> = {};
  files['common.sborka'] = 'license-policy free {\n  allow MIT, GPL-2.0-or-later, LGPL-2.1-or-later\n  unknown review\n}\n';
  const chains = Math.ceil(PRODUCTS / DEPTH);
  let made = 0;
  for (let c = 0; c < chains && made < PRODUCTS; c++) {
    const lines = ['import "common.sborka"', ''];
    for (let d = 0; d < DEPTH && made < PRODUCTS; d++, made++) {
      const name = `p${c}-${d}`;
      lines.push(`# level ${d} of chain ${c}`);
      lines.push(`product ${name}${d > 0 ? ` extends p${c}-${d - 1}` : ''} {`);
      if (d === 0) lines.push('  branch p11', '  profile distro/regular-server-systemd', '  arch x86_64, aarch64, riscv64', '  license policy free');
      lines.push(`  title "Product ${name} {arch}"`);
      lines.push('  packages {', `    pkg-${c}-${d}-a`, `    pkg-${c}-${d}-b`, '    openssh-server', d > 1 ? `    exclude pkg-${c}-${d - 2}-a` : '', '  }');
      lines.push('  settings {', '    locale "ru_RU.UTF-8"', `    hostname "host-${c}-${d}"`, '  }');
      if (d === DEPTH - 1 || d === 0) lines.push('  output iso', '  output qcow2 {', '    size 20G', '  }', '  output tar {', '    compression xz', '  }');
      lines.push('  on riscv64 {', '    kernel un-def', '  }', '  test boot {', '    timeout 15m', '    expect "login:"', '  }', '}', '');
    }
    files[`chain-${c}.sborka`] = lines.join('\n');
  }
  return files;
}

function main(): void {
  const files = generate();
  const names = Object.keys(files);
  const bytes = names.reduce((n, f) => n + Buffer.byteLength(files[f] as string), 0);
  // Building the parser (Chevrotain's grammar analysis) is a one-off cost per process.
  const tw = process.hrtime.bigint();
  parseRecipe('warm.sborka', 'product warm { arch x86_64 }\n');
  const setupMs = Number(process.hrtime.bigint() - tw) / 1e6;
  const t0 = process.hrtime.bigint();
  for (const f of names) parseRecipe(f, files[f] as string);
  const tCold = process.hrtime.bigint();
  // A second pass: the JIT has warmed up, as in a long-running service or a watch.
  for (const f of names) parseRecipe(f, files[f] as string);
  const t1 = process.hrtime.bigint();
  const c = compile(names, { read: (p) => files[p] });
  const t2 = process.hrtime.bigint();
  let steps = 0;
  for (const n of c.buildable) steps += planProduct(c, n).variants.reduce((s, v) => s + v.steps.length, 0);
  const t3 = process.hrtime.bigint();
  const ms = (a: bigint, b: bigint): number => Number(b - a) / 1e6;
  const parseColdMs = ms(t0, tCold);
  const parseMs = ms(tCold, t1);
  // compile() parses too: check time is compile minus a warm parse.
  const checkMs = Math.max(0, ms(t1, t2) - parseMs);
  const planMs = ms(t2, t3);
  const totalMs = parseMs + checkMs + planMs;
  process.stdout.write(`${JSON.stringify({
    products: c.decls.products.size,
    buildable: c.buildable.length,
    errors: c.errorCount,
    files: names.length,
    megabytes: +(bytes / 1e6).toFixed(3),
    steps,
    parserSetupMs: +setupMs.toFixed(1),
    parseColdMs: +parseColdMs.toFixed(1),
    parseMs: +parseMs.toFixed(1),
    checkMs: +checkMs.toFixed(1),
    planMs: +planMs.toFixed(1),
    totalMs: +totalMs.toFixed(1),
    parseMBps: +(bytes / 1e6 / (parseMs / 1000)).toFixed(2),
    totalMBps: +(bytes / 1e6 / (totalMs / 1000)).toFixed(2),
    peakRssMB: +(process.resourceUsage().maxRSS / 1024).toFixed(1),
    targets: { totalUnder1s: totalMs < 1000, parseOver10MBps: bytes / 1e6 / (parseMs / 1000) > 10 },
  }, null, 2)}\n`);
}

main();
