// Our OCI Distribution client on undici: ping, blobs (HEAD, cross-repository mount,
// monolithic and chunked upload), manifests, tag lists. Basic and Bearer auth from a 401
// challenge; retries with backoff on 5xx, 429 and timeouts; every upload is checked by digest.
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { MANIFEST_ACCEPT, sha256Digest } from '../../publish/oci';
import type { RegistryCredentials } from './config';

export class RegistryError extends Error {
  constructor(message: string, readonly status?: number, readonly retryable = false) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Wrong or missing credentials, or a push the credentials do not allow: retrying cannot help. */
export class RegistryAuthError extends RegistryError {
  constructor(message: string, status?: number) {
    super(message, status, false);
    this.name = 'RegistryAuthError';
  }
}

export interface OciClientOptions {
  /** host[:port] */
  registry: string;
  plainHttp: boolean;
  credentials: RegistryCredentials;
  requestTimeoutMs?: number;
  retries?: number;
  retryBaseMs?: number;
  chunkSizeBytes?: number;
  signal?: AbortSignal;
  log?(line: string): void;
}

type Body = Buffer | string | NodeJS.ReadableStream | undefined;

interface Req {
  method: Dispatcher.HttpMethod;
  /** Path with query, or an absolute URL (upload locations). */
  url: string;
  headers?: Record<string, string>;
  /** A function, so a request repeated after a 401 or a 5xx gets a fresh stream. */
  body?: () => Body;
  scope?: string;
}

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export class OciClient {
  private readonly base: string;
  private readonly dispatcher: Agent;
  /** Authorization header per scope, learnt from challenges. */
  private readonly auth = new Map<string, string>();
  private basicOnly = false;

  constructor(private readonly o: OciClientOptions) {
    this.base = `${o.plainHttp ? 'http' : 'https'}://${o.registry}`;
    const timeout = o.requestTimeoutMs ?? 60_000;
    this.dispatcher = new Agent({ headersTimeout: timeout, bodyTimeout: timeout, connectTimeout: Math.min(timeout, 30_000) });
  }

  get aborted(): boolean {
    return this.o.signal?.aborted ?? false;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** GET /v2/ with credentials: the registry answers and accepts them. */
  async ping(scope?: string): Promise<void> {
    const res = await this.retrying('ping', () => this.send({ method: 'GET', url: '/v2/', ...(scope ? { scope } : {}) }));
    if (res.status !== 200) throw this.fail('GET /v2/', res);
  }

  async blobExists(repo: string, digest: string): Promise<boolean> {
    const res = await this.retrying(`HEAD blob ${digest}`, () => this.send({ method: 'HEAD', url: `/v2/${repo}/blobs/${digest}`, scope: pushScope(repo) }));
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw this.fail(`HEAD /v2/${repo}/blobs/${digest}`, res);
  }

  /**
   * Makes the blob exist in `repo`: present already, mounted from another repository, or
   * uploaded (in one PUT, or in PATCH chunks above the chunk size). Returns how.
   */
  async pushBlob(repo: string, digest: string, size: number, file: string, mountFrom: readonly string[] = []): Promise<'exists' | 'mounted' | 'uploaded'> {
    if (await this.blobExists(repo, digest)) return 'exists';
    for (const from of mountFrom.filter((r) => r !== repo)) {
      const res = await this.retrying(`mount ${digest}`, () =>
        this.send({ method: 'POST', url: `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, scope: `${pushScope(repo)} repository:${from}:pull` }),
      );
      if (res.status === 201) return 'mounted';
      if (res.status === 202) await this.cancelUpload(res); // not there: the registry opened an upload we do not use
      else if (res.status !== 404) throw this.fail(`mount from ${from}`, res);
    }
    // A whole upload is repeated on failure: a session broken by a 5xx cannot be trusted to resume.
    await this.retrying(`upload ${digest}`, () => this.upload(repo, digest, size, file));
    return 'uploaded';
  }

  private async upload(repo: string, digest: string, size: number, file: string): Promise<void> {
    const start = await this.send({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, scope: pushScope(repo) });
    if (start.status !== 202) throw this.fail(`POST /v2/${repo}/blobs/uploads/`, start);
    let location = this.location(start);
    const chunk = this.o.chunkSizeBytes ?? 16 * 1024 * 1024;
    if (size <= chunk) {
      const data = await fs.readFile(file);
      const res = await this.send({
        method: 'PUT', url: withQuery(location, 'digest', digest), scope: pushScope(repo),
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) }, body: () => data,
      });
      if (res.status !== 201) throw this.fail(`PUT blob ${digest}`, res);
      await this.checkDigestHeader(res, digest);
      return;
    }
    for (let offset = 0; offset < size; offset += chunk) {
      const end = Math.min(size, offset + chunk) - 1;
      const res = await this.send({
        method: 'PATCH', url: location, scope: pushScope(repo),
        headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${end}`, 'content-length': String(end - offset + 1) },
        body: () => createReadStream(file, { start: offset, end }),
      });
      if (res.status !== 202) throw this.fail(`PATCH chunk ${offset}-${end} of ${digest}`, res);
      location = this.location(res);
      this.o.log?.(`uploaded ${end + 1}/${size} bytes of ${digest.slice(0, 19)}`);
    }
    const res = await this.send({ method: 'PUT', url: withQuery(location, 'digest', digest), scope: pushScope(repo), headers: { 'content-length': '0' } });
    if (res.status !== 201) throw this.fail(`PUT (finish upload) ${digest}`, res);
    await this.checkDigestHeader(res, digest);
  }

  private async cancelUpload(res: Res): Promise<void> {
    try {
      await this.send({ method: 'DELETE', url: this.location(res) });
    } catch {
      // An abandoned upload expires on the registry's side.
    }
  }

  async putManifest(repo: string, reference: string, mediaType: string, body: Buffer): Promise<string> {
    const res = await this.retrying(`PUT manifest ${reference}`, () =>
      this.send({ method: 'PUT', url: `/v2/${repo}/manifests/${reference}`, scope: pushScope(repo), headers: { 'content-type': mediaType }, body: () => body }),
    );
    if (res.status !== 201) throw this.fail(`PUT /v2/${repo}/manifests/${reference}`, res);
    return header(res, 'docker-content-digest') ?? sha256Digest(body);
  }

  /** The manifest as stored: its bytes, media type and the digest the registry states. */
  async getManifest(repo: string, reference: string): Promise<{ body: Buffer; mediaType: string; digest: string | undefined } | undefined> {
    const res = await this.retrying(`GET manifest ${reference}`, () =>
      this.send({ method: 'GET', url: `/v2/${repo}/manifests/${reference}`, scope: pushScope(repo), headers: { accept: MANIFEST_ACCEPT } }),
    );
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.fail(`GET /v2/${repo}/manifests/${reference}`, res);
    return { body: res.body, mediaType: header(res, 'content-type') ?? '', digest: header(res, 'docker-content-digest') };
  }

  async listTags(repo: string): Promise<string[]> {
    const tags: string[] = [];
    let url: string | undefined = `/v2/${repo}/tags/list?n=1000`;
    while (url) {
      const current: string = url;
      const res = await this.retrying('list tags', () => this.send({ method: 'GET', url: current, scope: pushScope(repo) }));
      if (res.status === 404) return tags;
      if (res.status !== 200) throw this.fail(`GET ${current}`, res);
      tags.push(...((JSON.parse(res.body.toString('utf8')) as { tags?: string[] | null }).tags ?? []));
      const link = header(res, 'link');
      url = link ? /<([^>]+)>/.exec(link)?.[1] : undefined;
    }
    return tags;
  }

  // --- for the step store (store-oci.ts): streamed reads, resumable uploads, deletes ---

  /** The blob's bytes as a stream (never buffered: multi-GB images), or undefined when absent. */
  async blobStream(repo: string, digest: string): Promise<NodeJS.ReadableStream | undefined> {
    if (!(await this.blobExists(repo, digest))) return undefined; // also learns the auth header
    const authz = this.auth.get(this.basicOnly ? '' : pushScope(repo)) ?? this.auth.get('');
    const res = await request(`${this.base}/v2/${repo}/blobs/${digest}`, {
      method: 'GET', headers: { 'user-agent': 'sborka-store/1', ...(authz ? { authorization: authz } : {}) }, dispatcher: this.dispatcher,
      // Registries on object storage redirect blob reads; undici drops the credentials when the origin changes.
      maxRedirections: 5, ...(this.o.signal ? { signal: this.o.signal } : {}),
    });
    if (res.statusCode === 404) return (await res.body.dump(), undefined);
    if (res.statusCode !== 200) throw new RegistryError(`GET blob ${digest}: ${res.statusCode} ${await res.body.text()}`, res.statusCode, res.statusCode >= 500);
    return res.body;
  }

  /** Opens an upload session; its location, to PATCH chunks to. */
  async startUpload(repo: string): Promise<string> {
    const res = await this.retrying('start upload', () => this.send({ method: 'POST', url: `/v2/${repo}/blobs/uploads/`, scope: pushScope(repo) }));
    if (res.status !== 202) throw this.fail(`POST /v2/${repo}/blobs/uploads/`, res);
    return this.location(res);
  }

  /** How many bytes the upload session holds, or undefined when the registry forgot it. */
  async uploadOffset(repo: string, location: string): Promise<number | undefined> {
    const res = await this.retrying('upload status', () => this.send({ method: 'GET', url: location, scope: pushScope(repo) }));
    if (res.status === 404) return undefined;
    if (res.status !== 204) throw this.fail('GET upload status', res);
    const end = /^0-(\d+)$/.exec(header(res, 'range') ?? '')?.[1];
    // "0-0" is both "nothing" and "one byte": taken as nothing, a wrong guess is refused (416) and the session restarted.
    return end === undefined || end === '0' ? 0 : Number(end) + 1;
  }

  /** Sends bytes start..end (inclusive) of the file; the session's next location. Not retried here: the caller resumes. */
  async patchChunk(repo: string, location: string, file: string, start: number, end: number): Promise<string> {
    const res = await this.send({
      method: 'PATCH', url: location, scope: pushScope(repo),
      headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${end}`, 'content-length': String(end - start + 1) },
      body: () => createReadStream(file, { start, end, highWaterMark: 4 << 20 }),
    });
    if (res.status !== 202) throw new RegistryError(`PATCH chunk ${start}-${end}: unexpected ${res.status} ${snippet(res.body)}`, res.status, res.status === 416);
    return this.location(res);
  }

  async finishUpload(repo: string, location: string, digest: string): Promise<void> {
    const res = await this.send({ method: 'PUT', url: withQuery(location, 'digest', digest), scope: pushScope(repo), headers: { 'content-length': '0' } });
    if (res.status !== 201) throw this.fail(`PUT (finish upload) ${digest}`, res);
    await this.checkDigestHeader(res, digest);
  }

  /** Untags and deletes a manifest by digest; false when it was gone already. */
  async deleteManifest(repo: string, digest: string): Promise<boolean> {
    const res = await this.retrying(`DELETE manifest ${digest}`, () => this.send({ method: 'DELETE', url: `/v2/${repo}/manifests/${digest}`, scope: pushScope(repo) }));
    if (res.status === 404) return false;
    if (res.status !== 202) throw this.fail(`DELETE /v2/${repo}/manifests/${digest}`, res);
    return true;
  }

  /** Unlinks a blob from the repository (the registry's garbage-collect frees its bytes). */
  async deleteBlob(repo: string, digest: string): Promise<void> {
    const res = await this.retrying(`DELETE blob ${digest}`, () => this.send({ method: 'DELETE', url: `/v2/${repo}/blobs/${digest}`, scope: pushScope(repo) }));
    if (res.status !== 202 && res.status !== 404) throw this.fail(`DELETE /v2/${repo}/blobs/${digest}`, res);
  }

  /** The registry's repositories (its catalog), those under `prefix/` when given. */
  async listRepositories(prefix?: string): Promise<string[]> {
    const repos: string[] = [];
    let url: string | undefined = '/v2/_catalog?n=1000';
    while (url) {
      const current: string = url;
      const res = await this.retrying('catalog', () => this.send({ method: 'GET', url: current, scope: 'registry:catalog:*' }));
      if (res.status !== 200) throw this.fail(`GET ${current}`, res);
      repos.push(...((JSON.parse(res.body.toString('utf8')) as { repositories?: string[] | null }).repositories ?? []));
      const link = header(res, 'link');
      url = link ? /<([^>]+)>/.exec(link)?.[1] : undefined;
    }
    return prefix === undefined ? repos : repos.filter((r) => r.startsWith(`${prefix}/`));
  }

  // --- plumbing -----------------------------------------------------------------

  private async send(req: Req, authRetry = true): Promise<Res> {
    const scope = req.scope ?? '';
    const headers: Record<string, string> = { 'user-agent': 'sborka-publish/1', ...req.headers };
    const authz = this.auth.get(this.basicOnly ? '' : scope) ?? this.auth.get('');
    if (authz) headers.authorization = authz;
    const url = req.url.startsWith('http') ? req.url : `${this.base}${req.url}`;
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, {
        method: req.method, headers, body: req.body?.() as Dispatcher.DispatchOptions['body'], dispatcher: this.dispatcher,
        ...(this.o.signal ? { signal: this.o.signal } : {}),
      });
    } catch (err) {
      if (this.o.signal?.aborted) throw err;
      const code = (err as { code?: string }).code ?? '';
      throw new RegistryError(`${req.method} ${url}: ${code || (err as Error).message}`, undefined, true);
    }
    const body = Buffer.from(await res.body.arrayBuffer());
    const out: Res = { status: res.statusCode, headers: res.headers, body };
    if (out.status === 401 && authRetry) {
      await this.authenticate(out, scope);
      return this.send(req, false);
    }
    if (out.status === 401) throw new RegistryAuthError(`${req.method} ${url}: the registry refused the credentials (401)${this.o.credentials.username ? ` for user ${this.o.credentials.username}` : '; none are configured'}`, 401);
    if (out.status === 403) throw new RegistryAuthError(`${req.method} ${url}: access denied (403): the credentials may not ${req.method === 'GET' || req.method === 'HEAD' ? 'read' : 'push to'} this repository`, 403);
    if (out.status >= 500 || out.status === 429) throw new RegistryError(`${req.method} ${url}: ${out.status} ${snippet(body)}`, out.status, true);
    return out;
  }

  /** Learns the auth header from a 401 challenge: Basic directly, Bearer via the token service. */
  private async authenticate(res: Res, scope: string): Promise<void> {
    const challenge = header(res, 'www-authenticate') ?? '';
    const { username, password, token } = this.o.credentials;
    if (/^basic\b/i.test(challenge)) {
      if (username === undefined || password === undefined) throw new RegistryAuthError(`registry ${this.o.registry} asks for Basic credentials and none are configured`, 401);
      this.basicOnly = true;
      this.auth.set('', `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`);
      return;
    }
    if (!/^bearer\b/i.test(challenge)) throw new RegistryAuthError(`registry ${this.o.registry} answered 401 with an unknown challenge ${JSON.stringify(challenge)}`, 401);
    if (token !== undefined) {
      this.auth.set(scope, `Bearer ${token}`);
      return;
    }
    const params = Object.fromEntries([...challenge.slice(6).matchAll(/([a-z_]+)="([^"]*)"/gi)].map((m) => [m[1]!.toLowerCase(), m[2]!]));
    if (!params.realm) throw new RegistryAuthError(`registry ${this.o.registry}: Bearer challenge without a realm`, 401);
    const tokenUrl = new URL(params.realm);
    if (params.service) tokenUrl.searchParams.set('service', params.service);
    for (const s of (scope || params.scope || '').split(' ').filter(Boolean)) tokenUrl.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (username !== undefined && password !== undefined) headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    const tr = await request(tokenUrl, { method: 'GET', headers, dispatcher: this.dispatcher, ...(this.o.signal ? { signal: this.o.signal } : {}) });
    const text = Buffer.from(await tr.body.arrayBuffer()).toString('utf8');
    if (tr.statusCode === 401 || tr.statusCode === 403) throw new RegistryAuthError(`token service ${tokenUrl.origin} refused the credentials (${tr.statusCode})`, tr.statusCode);
    if (tr.statusCode !== 200) throw new RegistryError(`token service ${tokenUrl.origin}: ${tr.statusCode} ${text.slice(0, 200)}`, tr.statusCode, tr.statusCode >= 500);
    const json = JSON.parse(text) as { token?: string; access_token?: string };
    const got = json.token ?? json.access_token;
    if (!got) throw new RegistryError(`token service ${tokenUrl.origin} returned no token`);
    this.auth.set(scope, `Bearer ${got}`);
  }

  /** Repeats `op` on retryable failures with exponential backoff and jitter. */
  private async retrying<T>(what: string, op: () => Promise<T>): Promise<T> {
    const retries = this.o.retries ?? 5;
    const base = this.o.retryBaseMs ?? 500;
    for (let attempt = 0; ; attempt++) {
      try {
        return await op();
      } catch (err) {
        if (!(err instanceof RegistryError) || !err.retryable || attempt >= retries || this.o.signal?.aborted) throw err;
        const delay = Math.min(30_000, base * 2 ** attempt) * (0.75 + Math.random() / 2);
        this.o.log?.(`${what}: ${err.message}; retrying in ${Math.round(delay)} ms (${attempt + 1}/${retries})`);
        await sleep(delay, this.o.signal);
      }
    }
  }

  private location(res: Res): string {
    const loc = header(res, 'location');
    if (!loc) throw new RegistryError(`registry ${this.o.registry} answered ${res.status} without a Location`);
    return new URL(loc, this.base).toString();
  }

  private async checkDigestHeader(res: Res, digest: string): Promise<void> {
    const got = header(res, 'docker-content-digest');
    if (got !== undefined && got !== digest) throw new RegistryError(`registry stored blob ${digest} as ${got}`, res.status, true);
  }

  private fail(what: string, res: Res): RegistryError {
    return new RegistryError(`${what}: unexpected ${res.status} ${snippet(res.body)}`, res.status, false);
  }
}

export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}

function header(res: Res, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function withQuery(url: string, key: string, value: string): string {
  const u = new URL(url);
  u.searchParams.set(key, value);
  return u.toString();
}

function snippet(body: Buffer): string {
  return body.toString('utf8').replace(/\s+/g, ' ').slice(0, 300);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });
}
