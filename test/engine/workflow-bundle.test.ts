// The workflow bundle cache: the second process takes the bundle from disk, a recompile that
// changed nothing keeps it, and a workflow file that changed, or one that appears where
// webpack looked for it, bundles again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { capturingLogger, makeTmpDir, removeDir } from '../activities/helpers';
import { cachedWorkflowBundle } from '../../service/workflow-bundle';

jest.setTimeout(120_000);

let dir: string;
beforeAll(() => {
  dir = makeTmpDir('sborka-bundle-');
  // The bundler resolves the SDK from the workflows' place, as it does in the project.
  fs.symlinkSync(path.resolve(__dirname, '..', '..', 'node_modules'), path.join(dir, 'node_modules'));
});
afterAll(() => removeDir(dir));

test('bundles once, reuses while nothing it read changed, bundles again after a change', async () => {
  const workflows = path.join(dir, 'workflows');
  fs.mkdirSync(workflows);
  fs.writeFileSync(path.join(workflows, 'greet.js'), "exports.greeting = () => 'hello';\n");
  fs.writeFileSync(path.join(workflows, 'index.js'), "const { greeting } = require('./greet');\nexports.greet = async () => greeting();\n");
  const cacheRoot = path.join(dir, 'cache');
  const bundle = async () => {
    const { logger, records } = capturingLogger();
    const { code } = await cachedWorkflowBundle(path.join(workflows, 'index.js'), cacheRoot, logger);
    return { code, bundled: records.some((r) => r.msg === 'workflow code bundled') };
  };

  const first = await bundle();
  expect(first.bundled).toBe(true);
  expect(first.code).toContain("'hello'");
  const second = await bundle();
  expect(second).toEqual({ code: first.code, bundled: false });

  // The same content written again (a compiler's output for unchanged sources): still cached.
  fs.writeFileSync(path.join(workflows, 'greet.js'), fs.readFileSync(path.join(workflows, 'greet.js')));
  expect((await bundle()).bundled).toBe(false);

  // An edited file (of the same size) is a new bundle.
  fs.writeFileSync(path.join(workflows, 'greet.js'), "exports.greeting = () => 'howdy';\n");
  const edited = await bundle();
  expect(edited.bundled).toBe(true);
  expect(edited.code).toContain("'howdy'");
  expect((await bundle()).bundled).toBe(false);

  // A file webpack looked for and did not find (a package.json, another extension of
  // ./greet) could change what it resolves once it exists: the cache no longer holds.
  const [cacheDir] = fs.readdirSync(cacheRoot);
  const probed = JSON.parse(fs.readFileSync(path.join(cacheRoot, cacheDir!, 'manifest.json'), 'utf8')) as { missing: string[] };
  const absent = probed.missing.find((p) => p.startsWith(workflows));
  expect(absent).toBeDefined();
  fs.mkdirSync(path.dirname(absent!), { recursive: true });
  fs.writeFileSync(absent!, '');
  expect((await bundle()).bundled).toBe(true);
});

test('a cache that cannot be written still gives the bundle, with a warning', async () => {
  const workflows = path.join(dir, 'plain');
  fs.mkdirSync(workflows);
  fs.writeFileSync(path.join(workflows, 'index.js'), "exports.ping = async () => 'pong';\n");
  const notADir = path.join(dir, 'a-file');
  fs.writeFileSync(notADir, '');
  const { logger, records } = capturingLogger();
  const { code } = await cachedWorkflowBundle(path.join(workflows, 'index.js'), notADir, logger);
  expect(code).toContain("'pong'");
  expect(records.some((r) => r.msg === 'workflow bundle not cached')).toBe(true);
});
