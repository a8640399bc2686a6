import { isIP } from 'node:net';

/**
 * An IP address as the integer APIM compares and sends (Java's `new BigInteger(1, address
 * bytes)`): 32 bits for IPv4, 128 for IPv6. An IPv4-mapped IPv6 address counts as its IPv4
 * address, as Java's InetAddress reads it. Undefined for anything that is not an address.
 */
export function ipNumber(ip: string): bigint | undefined {
  const family = isIP(ip);
  if (family === 4) return ipv4(ip);
  if (family !== 6) return undefined;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return ipv4(mapped[1]!);
  let text = ip.split('%')[0]!;
  // A dotted IPv4 tail stands for the last two 16-bit groups.
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const v = ipv4(tail[1]!);
    text = `${text.slice(0, tail.index)}${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const groups = (s: string | undefined): string[] => (s ? s.split(':') : []);
  const left = groups(head);
  const right = groups(rest);
  const all = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  let n = 0n;
  for (const g of all) n = (n << 16n) | BigInt(parseInt(g, 16));
  return n;
}

function ipv4(ip: string): bigint {
  let n = 0n;
  for (const part of ip.split('.')) n = (n << 8n) | BigInt(Number(part));
  return n;
}
