// Addresses the webhook egress policy must refuse, one or more per range of
// service/api/egress.ts (egress.test.ts checks every range has one), with the reason shown.
/** One address in each refused range (and the IPv4-mapped / embedded forms), with the reason expected. */
export const REFUSED_SAMPLES: readonly (readonly [address: string, reason: string])[] = [
  ['0.0.0.0', 'unspecified'], ['0.1.2.3', 'unspecified'], ['::', 'unspecified'],
  ['127.0.0.1', 'loopback'], ['127.255.255.254', 'loopback'], ['::1', 'loopback'],
  ['10.0.0.1', 'private'], ['172.16.0.1', 'private'], ['172.31.255.255', 'private'], ['192.168.1.1', 'private'],
  ['fc00::1', 'private (unique local)'], ['fd12:3456::1', 'private (unique local)'],
  ['100.64.0.1', 'shared (CGNAT)'], ['100.127.255.255', 'shared (CGNAT)'],
  ['169.254.169.254', 'cloud metadata'], ['fd00:ec2::254', 'cloud metadata'],
  ['169.254.1.1', 'link-local'], ['fe80::1', 'link-local'], ['fe80::1%eth0', 'link-local'], ['febf::1', 'link-local'],
  ['224.0.0.1', 'multicast'], ['239.255.255.250', 'multicast'], ['ff02::1', 'multicast'], ['ff05::1:3', 'multicast'],
  ['255.255.255.255', 'broadcast'], ['240.0.0.1', 'reserved'],
  ['192.0.0.8', 'IETF protocol'], ['198.18.0.1', 'benchmarking'], ['fec0::1', 'site-local'], ['100::1', 'discard-only'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo tunnel'],
  ['::ffff:127.0.0.1', 'loopback (IPv4 127.0.0.1 inside IPv6)'], ['::ffff:7f00:1', 'loopback (IPv4 127.0.0.1 inside IPv6)'],
  ['::ffff:169.254.169.254', 'cloud metadata (IPv4 169.254.169.254 inside IPv6)'], ['::ffff:10.1.2.3', 'private (IPv4 10.1.2.3 inside IPv6)'],
  ['::ffff:0.0.0.0', 'unspecified (IPv4 0.0.0.0 inside IPv6)'], ['::ffff:224.0.0.1', 'multicast (IPv4 224.0.0.1 inside IPv6)'],
  ['::127.0.0.1', 'loopback (IPv4 127.0.0.1 inside IPv6)'], ['64:ff9b::a9fe:a9fe', 'cloud metadata (IPv4 169.254.169.254 inside IPv6)'],
  ['2002:c0a8:101::1', 'private (IPv4 192.168.1.1 inside IPv6)'],
];
