// Where the service may send webhooks. A partner chooses the URL and sees whether delivery
// worked, so without a fence the webhook is a port scanner of the build network (issue 15).
// Every address a URL names or resolves to is checked against the refused ranges below, at
// registration and again at each delivery; the delivery then connects to exactly the address
// that was checked (pinnedLookup), so a DNS answer that changes in between (rebinding) cannot
// redirect it. Hosts on the admin's allow-list (SBORKA_WEBHOOK_ALLOW) skip the range check.
import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP, type LookupFunction } from 'node:net';

/** One row per refused range; the first match names the reason a partner is shown. */
export const REFUSED_RANGES: readonly (readonly [cidr: string, reason: string])[] = [
  ['0.0.0.0/8', 'unspecified'],
  ['127.0.0.0/8', 'loopback'],
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['100.64.0.0/10', 'shared (CGNAT)'],
  ['169.254.169.254/32', 'cloud metadata'],
  ['169.254.0.0/16', 'link-local'],
  ['192.0.0.0/24', 'IETF protocol'],
  ['198.18.0.0/15', 'benchmarking'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['fd00:ec2::254/128', 'cloud metadata'],
  ['fc00::/7', 'private (unique local)'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
  ['100::/64', 'discard-only'],
  // Teredo hides the client's IPv4 address (XORed): refused whole rather than decoded.
  ['2001::/32', 'Teredo tunnel'],
];

const LISTS = REFUSED_RANGES.map(([cidr, reason]) => {
  const [net, bits] = cidr.split('/') as [string, string];
  const list = new BlockList();
  list.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4');
  return { list, reason, type: isIP(net) === 6 ? ('ipv6' as const) : ('ipv4' as const) };
});

/** The eight 16-bit words of an IPv6 address (via the WHATWG serializer, which writes dotted tails in hex). */
function ipv6Words(ip: string): number[] {
  const canon = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const [l, r] = canon.includes('::') ? canon.split('::') : [canon, undefined];
  const left = l ? l.split(':') : [];
  const right = r ? r.split(':') : [];
  return [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right].map((w) => parseInt(w, 16));
}

/** An IPv4 address carried inside an IPv6 one (mapped, compatible, NAT64, 6to4), which reaches that IPv4 host. */
function embeddedIpv4(ip: string): string | undefined {
  const w = ipv6Words(ip);
  const v4 = (hi: number, lo: number) => [hi >> 8, hi & 255, lo >> 8, lo & 255].join('.');
  const zero = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && (w[5] === 0xffff || w[5] === 0)) return v4(w[6]!, w[7]!);
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) return v4(w[6]!, w[7]!);
  if (w[0] === 0x2002) return v4(w[1]!, w[2]!);
  return undefined;
}

/** Why an address is refused ("loopback", …), or undefined for a public address. */
export function refusalOf(address: string): string | undefined {
  const ip = address.split('%')[0]!; // a zone id (fe80::1%eth0) names no other range
  const family = isIP(ip);
  if (family === 0) return 'not an IP address';
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const hit = LISTS.find((l) => l.type === type && l.list.check(ip, type));
  if (hit) return hit.reason;
  if (family === 6) {
    const v4 = embeddedIpv4(ip);
    const why = v4 === undefined ? undefined : refusalOf(v4);
    if (why) return `${why} (IPv4 ${v4} inside IPv6)`;
  }
  return undefined;
}

/** The host of a URL as the allow-list compares it: WHATWG-normalised (0x7f.1 → 127.0.0.1), no brackets, no final dot. */
export function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** Allow-list entries (host names or addresses, comma or space separated), normalised like hostOf. */
export function parseAllowList(entries: readonly string[] | string | undefined, where = 'SBORKA_WEBHOOK_ALLOW'): Set<string> {
  const list = typeof entries === 'string' ? entries.split(/[\s,]+/) : (entries ?? []);
  const out = new Set<string>();
  for (const e of list.map((x) => x.trim()).filter(Boolean)) {
    const bad = new Error(`${where}: "${e}" is not a host name or address`);
    if (isIP(e) !== 6 && !/^[a-z0-9_.-]+$/i.test(e)) throw bad;
    try {
      out.add(hostOf(new URL(`http://${isIP(e) === 6 ? `[${e}]` : e}/`)));
    } catch {
      throw bad;
    }
  }
  return out;
}

export type Resolved = { address: string; family: 4 | 6 };
/** Every address of a name; injectable so tests resolve names without DNS. */
export type Lookup = (host: string) => Promise<Resolved[]>;
export const systemLookup: Lookup = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** A URL the policy refuses (`retry` false) or could not check now (`retry` true: the name did not resolve). */
export class EgressError extends Error {
  constructor(message: string, readonly retry: boolean) {
    super(message);
  }
}

/** A vetted destination: connect to `address`, nothing else. */
export interface Target { url: URL; host: string; address: string; family: 4 | 6; allowed: boolean }

export class EgressPolicy {
  constructor(readonly allow: ReadonlySet<string>, private readonly lookup: Lookup = systemLookup) {}

  /** Parses the URL, resolves its host once and checks every address; the first is the one to connect to. */
  async vet(raw: string): Promise<Target> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new EgressError('not a URL', false);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EgressError(`scheme ${url.protocol} is not http or https`, false);
    const host = hostOf(url);
    const literal = isIP(host);
    let addresses: Resolved[];
    if (literal) addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
    else {
      try {
        addresses = await this.lookup(host);
      } catch {
        addresses = [];
      }
      if (addresses.length === 0) throw new EgressError(`${host} does not resolve`, true);
    }
    const allowed = this.allow.has(host);
    if (!allowed) {
      for (const a of addresses) {
        const why = refusalOf(a.address);
        // The reason names the range, not the address: a partner learns nothing of internal DNS records.
        if (why) throw new EgressError(`${host} ${literal ? 'is' : 'resolves to'} an address in a refused range (${why})`, false);
      }
    }
    return { url, host, address: addresses[0]!.address, family: addresses[0]!.family, allowed };
  }
}

/** A `lookup` for net/tls.connect that answers only the vetted address, whatever name is asked. */
export function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return ((_host: string, options: { all?: boolean }, cb: (err: Error | null, address: string | Resolved[], family?: number) => void) => {
    if (options.all) cb(null, [{ address, family }]);
    else cb(null, address, family);
  }) as LookupFunction;
}
