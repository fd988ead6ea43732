// The dashboard's changes.js, run as the browser runs it (a window object) with stand-ins for
// app.js's h/t/badge that record what would be drawn: the license panel shows a review's real
// state (an approved, finished build is not "waiting for an operator"), and the nights table
// says what each night waited for and who was notified.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { DASHBOARD_DIR } from '../../service/api/server';

type Node = { tag: string; attrs: Record<string, unknown>; children: unknown[] };
interface Pages {
  licenseState(ui: unknown, v: unknown, detail: unknown): unknown[];
  nights(ui: unknown, schedules: unknown): Node | null;
}

const window: { SBORKA_PAGES?: Pages } = {};
vm.runInNewContext(fs.readFileSync(path.join(__dirname, '../..', DASHBOARD_DIR, 'changes.js'), 'utf8'), { window });
const pages = window.SBORKA_PAGES!;

const h = (tag: string, attrs: Record<string, unknown>, ...children: unknown[]): Node => ({ tag, attrs, children: children.flat(3) });
const t = (id: string, vars: Record<string, unknown> = {}) => `${id}${Object.keys(vars).length ? JSON.stringify(vars) : ''}`;
const badge = (state: string) => h('badge', { state });
const ui = { h, t, badge };

/** Everything drawn, as text. */
function text(n: unknown): string {
  if (n === null || n === undefined) return '';
  if (typeof n === 'string') return n;
  const node = n as Node;
  return `${node.tag === 'badge' ? `[${String(node.attrs.state)}]` : ''}${node.children.map(text).join('')}`;
}

const detail = (state: string, approval?: object) => ({
  variants: [{ variantId: 'v', steps: [{ id: 'licenses', kind: 'verify-licenses', state, ...(approval ? { approval } : {}) }] }],
});
const review = { variantId: 'v', present: true, verdict: 'review', stepState: 'succeeded' };

describe('license panel', () => {
  it('an approved review of a finished build shows who approved it, not a wait', () => {
    const drawn = pages.licenseState(ui, review, detail('succeeded', { by: 'alice', reason: 'MPL ok', at: '2026-12-01T10:00:00.000Z' })).map(text).join('');
    expect(drawn).toBe('[succeeded] review.approved{"who":"alice","date":"2026-12-01","why":"MPL ok"}');
  });
  it('a review still open waits; a refused one failed; a plain pass or fail is the verdict', () => {
    expect(pages.licenseState(ui, { ...review, stepState: 'waiting' }, detail('waiting')).map(text).join('')).toBe('[waiting] review.waiting');
    expect(pages.licenseState(ui, { ...review, stepState: 'failed' }, detail('failed')).map(text).join('')).toBe('[failed] review.refused');
    expect(pages.licenseState(ui, { ...review, verdict: 'pass' }, null).map(text).join('')).toBe('[succeeded]');
    expect(pages.licenseState(ui, { ...review, verdict: 'fail' }, null).map(text).join('')).toBe('[failed]');
  });
});

describe('nights', () => {
  it('lists each night with what it waited for and who was notified, linking to its changes', () => {
    const table = pages.nights(ui, [{
      product: 'demo',
      nights: [
        { buildId: 'demo-nightly-2026-12-02T02:00:00Z', night: '2026-12-02', state: 'succeeded', waits: [], notified: [] },
        {
          buildId: 'demo-nightly-2026-12-01T02:00:00Z', night: '2026-12-01', state: 'waiting',
          waits: [{ variantId: 'v', step: 'licenses', reason: 'license review: 1 package(s) need review', open: true }],
          notified: [{ owner: 'partner:acme', host: 'hooks.acme.example', status: 'delivered', at: '2026-12-01T02:10:00.000Z' }],
        },
      ],
    }]);
    const rows = (table!.children[1] as Node).children[1] as Node;
    expect(rows.children.map(text)).toEqual([
      'demo2026-12-02demo-nightly-2026-12-02T02:00:00Z[succeeded]——changes.link',
      'demo2026-12-01demo-nightly-2026-12-01T02:00:00Z[waiting]nights.waits{"what":"license review: 1 package(s) need review","step":"v/licenses"}nights.notified{"owner":"partner:acme","host":"hooks.acme.example","status":"delivered"}changes.link',
    ]);
    const link = ((rows.children[1] as Node).children[6] as Node).children[0] as Node;
    expect(link.attrs.href).toBe('#/changes/demo-nightly-2026-12-01T02%3A00%3A00Z');
    expect(pages.nights(ui, [{ product: 'demo', nights: [] }])).toBeNull();
  });
});
