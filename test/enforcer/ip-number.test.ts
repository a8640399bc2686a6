import { ipNumber } from '../../src/enforcer/ip-number';

describe('ipNumber: an address as APIM compares it', () => {
  test('IPv4 is 32 bits; an IPv4-mapped IPv6 address is its IPv4 address', () => {
    expect(ipNumber('10.0.0.7')).toBe(167772167n);
    expect(ipNumber('255.255.255.255')).toBe(4294967295n);
    expect(ipNumber('::ffff:10.0.0.7')).toBe(167772167n);
  });

  test('IPv6 is 128 bits, compressed or not, with an IPv4 tail', () => {
    expect(ipNumber('2001:db8::ff')).toBe(42540766411282592856903984951653826815n);
    expect(ipNumber('2001:0db8:0000:0000:0000:0000:0000:00ff')).toBe(42540766411282592856903984951653826815n);
    expect(ipNumber('::1')).toBe(1n);
    expect(ipNumber('::')).toBe(0n);
    expect(ipNumber('ffff::')).toBe(0xffffn << 112n);
    expect(ipNumber('64:ff9b::10.0.0.7')).toBe((0x64n << 112n) | (0xff9bn << 96n) | 167772167n);
  });

  test('anything else is no address', () => {
    for (const bad of ['', 'localhost', '10.0.0', '1.2.3.256', 'gggg::1']) expect(ipNumber(bad)).toBeUndefined();
  });
});
