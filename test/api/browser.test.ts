// The dashboard in a real browser (playwright-core driving Debian's chromium): a partner
// logs in with a token, submits a variant recipe with a mistake and sees the diagnostic,
// fixes and stores it, starts a build, watches it finish live, opens the license report,
// downloads an artifact; then the dashboard in Russian, with screenshots of the matrix and
// the build page saved under the test output directory (printed).
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { x86Plan } from '../helpers/sborka-env';
import { ApiEnv, fragilePlan, outputDir, writerPlan } from './helpers';

jest.setTimeout(300_000);

const CHROMIUM = '/usr/bin/chromium';
let env: ApiEnv;
let browser: BrowserContext;
let profile: string;
let out: string;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: scripts/setup installs Debian's chromium (scripts/debian-packages.txt)`);
  out = outputDir('dashboard');
  console.log(`dashboard screenshots: ${out}`);
  env = await ApiEnv.start({ dispatchWebhooks: false });
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sborka-chromium-'));
  // A fresh profile directory: playwright passes it to chromium as --user-data-dir.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    acceptDownloads: true,
    viewport: { width: 1300, height: 1000 },
  });
});
afterAll(async () => {
  await browser?.close();
  await env?.stop();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
});

async function login(page: Page, token: string, lang: 'en' | 'ru'): Promise<void> {
  await page.goto(env.base);
  await page.evaluate(`localStorage.clear(); localStorage.setItem('sborka.lang', ${JSON.stringify(lang)})`);
  await page.reload();
  await page.fill('#token', token);
  await page.click('#login button[type=submit]');
  await page.waitForSelector('#who:not(:empty)');
}

const BROKEN = `import "regular-xfce.sborka"

# ACME's desktop: our agent on top of the community desktop.
variant acme-desk of regular-xfce {
  owner partner acme
  packages {
    acme-agent
  }
  arhc x86_64
}
`;

test('a partner submits a variant, fixes its mistake, starts a build, watches it finish, opens the license report and downloads an artifact', async () => {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await login(page, env.tokens['partner:acme'], 'en');
  await page.waitForSelector('#recipe-text');
  expect(await page.textContent('#who')).toContain('partner:acme');

  await page.fill('#recipe-name', 'acme-desk.sborka');
  await page.fill('#recipe-text', BROKEN);
  await page.click('#check');
  const diag = await page.waitForSelector('#diagnostics .diag.error');
  expect(await diag.textContent()).toMatch(/products\/acme-desk\.sborka:9:3: error\[[a-z-]+\]/);
  expect(await page.textContent('#diag-summary')).toMatch(/1 error/);
  await page.screenshot({ path: path.join(out, 'recipe-diagnostic.png'), fullPage: true });

  await page.fill('#recipe-text', BROKEN.replace('  arhc x86_64\n', ''));
  await page.click('#save');
  await page.waitForSelector('#recipe-result .ok');
  expect(await page.textContent('#diag-summary')).toBe('No errors.');
  expect(await page.textContent('#recipe-products')).toContain('acme-desk');
  expect(await page.textContent('#stored-recipes')).toContain('acme-desk.sborka');

  // The build itself: a core plan (the variant's alt steps cannot run on this host).
  const plan = { ...x86Plan('acme-portal', [
    { id: 'prepare', kind: 'noop', params: {} },
    { id: 'sums', kind: 'checksum', needs: ['prepare'], params: {} },
  ], [{ name: 'sha256sums', step: 'sums', path: 'SHA256SUMS', format: 'report' }]), owner: { kind: 'partner', name: 'acme' } };
  await page.fill('#plan-text', JSON.stringify(plan, null, 2));
  await page.click('#start-plan');
  await page.click('#open-started');
  await page.waitForSelector('#build-state');
  await page.waitForSelector('#build-state[data-state="succeeded"]', { timeout: 120_000 });
  await page.waitForSelector('.gantt .bar.s-succeeded');
  await page.locator('#licenses', { hasText: 'No license report: the plan checks no licenses' }).waitFor();

  // A locator, not an element handle: the live view re-renders the list while we click.
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-download="sha256sums"]').click()]);
  const saved = path.join(out, 'SHA256SUMS');
  await download.saveAs(saved);
  const buildId = decodeURIComponent(page.url().split('#/builds/')[1]!);
  const listed = (await env.req('GET', `/api/builds/${buildId}/artifacts`, { as: 'partner:acme' })).json.artifacts[0];
  expect(createHash('sha256').update(fs.readFileSync(saved)).digest('hex')).toBe(listed.sha256);

  await page.click('[data-log="sums"]');
  // Locators, not waitForFunction: the dashboard's CSP forbids evaluating strings in the page.
  await page.locator('h2', { hasText: 'Log of step sums' }).waitFor();
  await page.screenshot({ path: path.join(out, 'build-en.png'), fullPage: true });

  // Russian: the same page, every label from the Russian table.
  await page.selectOption('#lang', 'ru');
  await page.waitForSelector('#build-state[data-state="succeeded"]');
  expect(await page.textContent('#build-state')).toBe('успешно');
  // The page is drawn again in Russian; its license and artifact panels load a moment later.
  await page.locator('#licenses', { hasText: 'Отчёта о лицензиях нет: в плане нет проверки лицензий' }).waitFor();
  await page.locator('#artifacts', { hasText: 'Скачать' }).waitFor();
  expect(await page.textContent('nav')).toContain('Рецепты');
  await page.screenshot({ path: path.join(out, 'build-ru.png'), fullPage: true });
  expect(errors).toEqual([]);
  await page.close();
});

test('the matrix of products × architectures, and a waiting build\'s actions, in Russian', async () => {
  // Some history: three arches, a failure, a build waiting for an operator.
  const multi = (product: string, ok: boolean) => ({
    version: 1, product, owner: { kind: 'community' }, toolchain: { name: 'core', version: '1' },
    variants: ['x86_64', 'aarch64', 'riscv64'].map((arch) => ({
      id: `${product}-${arch}`, product, arch, taskQueue: `build-${arch}`,
      steps: [{ id: 'build', kind: 'exec', params: { argv: ok || arch !== 'riscv64' ? ['true'] : ['false'], nonRetryableExitCodes: [1] } },
        { id: 'test-boot', kind: 'noop', needs: ['build'], params: {} }],
    })),
  });
  for (const [p, ok] of [['alt-server', true], ['alt-server', false], ['alt-server', true], ['alt-workstation', true]] as const) {
    const r = await env.req('POST', '/api/builds', { body: { plan: multi(p, ok) } });
    expect(r.status).toBe(201);
    const d = await env.finished(r.json.buildId);
    if (!ok) {
      // riscv64 failed for good (non-retryable) and waits: abort it so the build ends failed.
      if (d.product.state === 'running') await env.req('POST', `/api/builds/${r.json.buildId}/abort`, { body: {} });
    }
    await env.waitFor('the build to end', async () => ((await env.req('GET', `/api/builds/${r.json.buildId}`)).json.product.state !== 'running' ? true : undefined));
  }
  const waiting = await env.req('POST', '/api/builds', { body: { plan: { ...fragilePlan('alt-kworkstation', { kind: 'community' }, '/nonexistent/input'), owner: { kind: 'community' } } } });
  await env.waitFor('the build to wait', async () => ((await env.req('GET', `/api/builds/${waiting.json.buildId}`)).json.variants[0]?.state === 'waiting' ? true : undefined));
  await env.req('POST', '/api/builds', { body: { plan: writerPlan('regular-jeos', { kind: 'maintainer', team: 'regular' }) } });

  const page = await browser.newPage();
  await login(page, env.tokens.maintainer, 'ru');
  await page.goto(`${env.base}/#/matrix?scope=all`);
  await page.waitForSelector('#matrix');
  expect(await page.textContent('h1')).toBe('Продукты × архитектуры');
  expect(await page.locator('#matrix thead th').allTextContents()).toEqual(['Продукт', 'aarch64', 'riscv64', 'x86_64']);
  expect(await page.locator('[data-cell="alt-server/x86_64"] .strip span').count()).toBe(3);
  expect(await page.textContent('[data-cell="alt-server/x86_64"]')).toContain('успешно');
  await page.screenshot({ path: path.join(out, 'matrix-ru.png'), fullPage: true });

  await page.goto(`${env.base}/#/builds/${waiting.json.buildId}`);
  await page.waitForSelector('[data-action="retry"]');
  expect(await page.locator('[data-action]').allTextContents()).toEqual(['Отменить', 'Повторить шаг', 'Прервать']);
  await page.locator('#log', { hasText: /is missing/ }).waitFor();
  await page.screenshot({ path: path.join(out, 'build-waiting-ru.png'), fullPage: true });
  page.on('dialog', (d) => void d.accept());
  await page.click('[data-action="abort"]');
  await page.waitForSelector('#build-state[data-state="failed"]', { timeout: 60_000 });
  await page.close();
});
