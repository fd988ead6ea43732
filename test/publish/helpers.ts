// Real inputs for publishing tests: store entries as the build steps would leave them, OCI
// layouts made here (a real layer tar.gz, config, manifest), a throw-away gpg key and
// minisign key, Debian's docker-registry on loopback, and a fault-injecting proxy.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { StepStore } from '../../activities/store';
import { freePort } from '../helpers/sborka-env';

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Commits `files` (path → content, or a directory to copy) as a store entry; returns its key. */
export async function storeEntry(storeDir: string, kind: string, files: Record<string, string | Buffer>, values: Record<string, unknown> = {}, copyDirs: Record<string, string> = {}): Promise<string> {
  const store = new StepStore(storeDir);
  const staging = await store.createStaging();
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(staging.outputsDir, rel)), { recursive: true });
    fs.writeFileSync(path.join(staging.outputsDir, rel), content);
  }
  for (const [rel, dir] of Object.entries(copyDirs)) fs.cpSync(dir, path.join(staging.outputsDir, rel), { recursive: true });
  const entry = await store.commit(staging, { kind, values });
  return entry.key;
}

/** A one-layer OCI image layout for `arch` at `dir`, tagged `refName`; returns its manifest digest. */
export function makeOciLayout(dir: string, arch: 'amd64' | 'arm64', refName: string, payloadBytes = 4096): { manifestDigest: string; layerDigest: string } {
  const work = fs.mkdtempSync(path.join(path.dirname(dir), 'layer-'));
  const rootfs = path.join(work, 'rootfs');
  fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(rootfs, 'etc', 'os-release'), `ID=sborka-test\nARCH=${arch}\n`);
  // Random bytes do not compress: the layer stays above the chunk size the tests set.
  fs.writeFileSync(path.join(rootfs, 'payload.bin'), randomBytes(payloadBytes));
  const tarFile = path.join(work, 'layer.tar');
  execFileSync('tar', ['--create', `--file=${tarFile}`, `--directory=${rootfs}`, '--sort=name', '--mtime=@0', '--owner=0', '--group=0', '--numeric-owner', '.']);
  const diffId = `sha256:${sha256(fs.readFileSync(tarFile))}`;
  execFileSync('gzip', ['-n', '-f', tarFile]);
  const layer = fs.readFileSync(`${tarFile}.gz`);
  fs.rmSync(work, { recursive: true, force: true });
  const blobs = path.join(dir, 'blobs', 'sha256');
  fs.mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer) => {
    const hex = sha256(data);
    fs.writeFileSync(path.join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: data.length };
  };
  const l = put(layer);
  const config = put(Buffer.from(JSON.stringify({ architecture: arch, os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [diffId] } })));
  const manifest = put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...l }],
  })));
  fs.writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': refName } }],
  }));
  return { manifestDigest: manifest.digest, layerDigest: l.digest };
}

export interface GpgKey {
  homedir: string;
  fingerprint: string;
  /** Stops the gpg-agent the key's use started. */
  stop(): void;
}

export function makeGpgKey(dir: string): GpgKey {
  const homedir = path.join(dir, 'gnupg');
  fs.mkdirSync(homedir, { mode: 0o700 });
  execFileSync('gpg', ['--batch', '--homedir', homedir, '--passphrase', '', '--quick-generate-key', 'sborka test <publish@sborka.invalid>', 'ed25519', 'sign', 'never'], { stdio: 'pipe' });
  const colons = execFileSync('gpg', ['--batch', '--homedir', homedir, '--list-secret-keys', '--with-colons'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(colons)?.[1];
  if (!fingerprint) throw new Error(`no fingerprint in ${colons}`);
  return { homedir, fingerprint, stop: () => execFileSync('gpgconf', ['--homedir', homedir, '--kill', 'all']) };
}

export function makeMinisignKey(dir: string): { secretKey: string; publicKey: string } {
  const secretKey = path.join(dir, 'minisign.key');
  const publicKey = path.join(dir, 'minisign.pub');
  execFileSync('minisign', ['-G', '-W', '-p', publicKey, '-s', secretKey], { stdio: 'pipe' });
  return { secretKey, publicKey };
}


export { freePort };

export interface Registry {
  host: string;
  port: number;
  stop(): Promise<void>;
}

/** Debian's docker-registry on 127.0.0.1 with htpasswd (bcrypt) auth and storage under `dir`. */
export async function startRegistry(dir: string, users: Record<string, string>): Promise<Registry> {
  const port = await freePort();
  const htpasswd = path.join(dir, 'htpasswd');
  fs.writeFileSync(htpasswd, Object.entries(users).map(([u, p]) => execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim()).join('\n') + '\n');
  const configFile = path.join(dir, 'registry.yml');
  fs.writeFileSync(configFile, [
    'version: 0.1',
    'log:', '  level: warn', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${path.join(dir, 'data')}`, '  delete:', '    enabled: true',
    'http:', `  addr: 127.0.0.1:${port}`, `  secret: ${randomBytes(16).toString('hex')}`,
    'auth:', '  htpasswd:', '    realm: sborka-test', `    path: ${htpasswd}`, '',
  ].join('\n'));
  const log = fs.openSync(path.join(dir, 'registry.log'), 'a');
  const child: ChildProcess = spawn('docker-registry', ['serve', configFile], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (let i = 0; ; i++) {
    const status = await new Promise<number>((resolve) => {
      http.get({ host: '127.0.0.1', port, path: '/v2/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', () => resolve(0));
    });
    if (status === 401 || status === 200) break;
    if (i > 100 || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`docker-registry did not start: ${fs.readFileSync(path.join(dir, 'registry.log'), 'utf8')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host: `127.0.0.1:${port}`,
    port,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface FaultRule {
  /** Which requests this rule applies to. */
  match(req: http.IncomingMessage): boolean;
  /** Answer 500 to the first `fail` matching requests. */
  fail?: number;
  /** Rewrite the response's Docker-Content-Digest. */
  rewriteDigest?: string;
}

export interface FaultProxy {
  host: string;
  /** Requests answered with an injected 500. */
  injected: number;
  stop(): Promise<void>;
}

/** An HTTP proxy on loopback in front of the registry that injects the faults its rules name. */
export async function startFaultProxy(upstreamPort: number, rules: FaultRule[]): Promise<FaultProxy> {
  const counts = new Map<FaultRule, number>();
  const proxy: FaultProxy = { host: '', injected: 0, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const rule = rules.find((r) => r.match(req));
    if (rule?.fail !== undefined && (counts.get(rule) ?? 0) < rule.fail) {
      counts.set(rule, (counts.get(rule) ?? 0) + 1);
      proxy.injected++;
      req.resume();
      res.writeHead(500, { 'content-type': 'text/plain' }).end('injected fault');
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const headers = { ...ur.headers };
      if (rule?.rewriteDigest && headers['docker-content-digest']) headers['docker-content-digest'] = rule.rewriteDigest;
      // Location headers point at the upstream; rewrite them to come back through the proxy.
      if (typeof headers.location === 'string') headers.location = headers.location.replace(`127.0.0.1:${upstreamPort}`, proxy.host);
      res.writeHead(ur.statusCode ?? 502, headers);
      ur.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  proxy.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  proxy.stop = () => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return proxy;
}
