import { escapeRe2, re2ProgramSize, Re2ModelError, RE2_DEFAULT_MAX_PROGRAM_SIZE } from '../../src/envoy/re2';
import { realRe2FullMatches, realRe2ProgramSizes } from '../helpers/re2';

/** How far above RE2's real ProgramSize the estimate may be (it must never be below). */
const SLACK = 2;

/** mulberry32: a small seeded PRNG, so every run checks the same patterns. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE'];

/** Random route regexes of the shapes the translator generates (see src/envoy/re2.ts). */
function generatePatterns(count: number, seed: number): string[] {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const chars = [...'abcdefghijklmnopqrstuvwxyz0123456789/////._-~', 'é', '日', '😀', ...'()+$:@'];
  const literal = (max: number) => Array.from({ length: int(max + 1) }, () => pick(chars)).join('');
  const shuffled = <T>(xs: T[]) => xs.map((x) => [rnd(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);

  const patterns: string[] = [];
  while (patterns.length < count) {
    const kind = rnd();
    if (kind < 0.15) {
      // a :method header matcher
      const methods = shuffled(METHODS).slice(0, 1 + int(8));
      patterns.push(`^(?:${methods.join('|')})$`);
      continue;
    }
    let p = `^${escapeRe2(literal(40))}`;
    const params = int(11);
    for (let i = 0; i < params; i++) {
      p += '[^/]+';
      const r = rnd();
      if (r < 0.1) continue; // next to another parameter
      if (r < 0.25) p += escapeRe2(pick(['.json', '.xml', '-v1', '~x', 'é'])); // rest of a partial segment
      else if (r < 0.35) {
        // a group of distinct literal alternatives, some sharing prefixes, some one character, maybe one empty
        const alts = new Set(Array.from({ length: 2 + int(4) }, () => Array.from({ length: int(4) }, () => pick([...'ab.'])).join('')));
        if (alts.size > 1) p += `(?:${[...alts].map(escapeRe2).join('|')})`;
      }
      p += escapeRe2(literal(12));
    }
    if (rnd() < 0.5) p += '/?';
    if (rnd() < 0.5) p += '(?:/.*)?';
    patterns.push(`${p}$`);
  }
  return patterns;
}

describe('re2ProgramSize', () => {
  test('matches measurements of libre2 for hand-picked patterns', async () => {
    const cases: Array<[string, number]> = [
      ['a', 5],
      ['xy', 6],
      ['xyz', 7],
      ['/pets', 9],
      ['^/pets$', 4],
      ['[^/]', 12],
      ['[^/]+', 13],
      ['/pets/[^/]+', 19],
      ['/pets/[^/]+/?', 21],
      ['.*', 12],
      ['/pets(?:/.*)?', 20],
      ['[a-z]', 5],
      ['[a-z0-9]', 6],
      ['^/v2/pet/([^/]+)[/]?', 17],
      ['^/pets/[^/]+\\.json$', 18],
      ['^(?:GET|POST|PUT)$', 11],
    ];
    const real = await realRe2ProgramSizes(cases.map(([p]) => p));
    expect(real).toEqual(cases.map(([, n]) => n));
    expect(cases.map(([p]) => re2ProgramSize(p))).toEqual(real);
  });

  test('is never below RE2 and at most SLACK above it, for generated route regexes', async () => {
    const patterns = generatePatterns(600, 2105);
    const real = await realRe2ProgramSizes(patterns);
    const rows = patterns.map((p, i) => ({ p, real: real[i], estimate: re2ProgramSize(p) }));
    expect(rows.filter((r) => r.estimate < r.real || r.estimate - r.real > SLACK)).toEqual([]);
    // The sample must reach both sides of Envoy's limit to mean anything.
    expect(rows.some((r) => r.real <= RE2_DEFAULT_MAX_PROGRAM_SIZE)).toBe(true);
    expect(rows.some((r) => r.real > RE2_DEFAULT_MAX_PROGRAM_SIZE)).toBe(true);
  });

  test('patterns outside the modelled subset throw instead of guessing', () => {
    for (const p of ['^a{2}$', '^\\d+$', '^a|b$', '^(?:a+|b)$', '^a*?$', '^(?=a)$', '^a$b', '^(?:a|)+$', '^[é]$', '^(?:é|è)$', '^a?a$', '^/?/$', '^(?:)$', '^(?:a|a)$']) {
      expect(() => re2ProgramSize(p)).toThrow(Re2ModelError);
    }
  });

  test("Envoy's default limit", () => {
    expect(RE2_DEFAULT_MAX_PROGRAM_SIZE).toBe(100);
  });
});

describe('escapeRe2', () => {
  const rnd = prng(7);
  const alphabet = [...'abc019 /.-~_', ...'\\^$.|?*+()[]{}', '\t', '\r', '\x00', '\x7f', 'é', '日', '😀'];
  const literals = [
    '1.0.0',
    '',
    ...Array.from({ length: 200 }, () => Array.from({ length: Math.floor(rnd() * 20) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join('')),
  ];

  test('RE2 and JavaScript both match exactly the literal', async () => {
    const pairs: Array<[string, string]> = [];
    for (const lit of literals) {
      const re = escapeRe2(lit);
      // Exact match; a one-character change is no match (catches any unescaped `.`, `?`, `*`, `|`).
      pairs.push([re, lit], [re, `${lit}x`], [re, lit.replace(/[^a]/, 'a')]);
      for (const flags of ['', 'u']) {
        const js = new RegExp(`^(?:${re})$`, flags);
        expect({ re, flags, exact: js.test(lit), longer: js.test(`${lit}x`) }).toEqual({ re, flags, exact: true, longer: false });
      }
    }
    const matched = await realRe2FullMatches(pairs);
    const wrong = pairs.filter(([, text], i) => matched[i] !== (text === literals[Math.floor(i / 3)]));
    expect(wrong).toEqual([]);
    expect(escapeRe2('1.0.0')).toBe('1\\.0\\.0');
  });

  test('sizes escaped literals exactly like RE2', async () => {
    const patterns = literals.map((l) => `^/x${escapeRe2(l)}[^/]+${escapeRe2(l)}$`);
    expect(patterns.map(re2ProgramSize)).toEqual(await realRe2ProgramSizes(patterns));
  });
});

describe('RE2 test helper', () => {
  test("reports RE2's error for an invalid pattern", async () => {
    await expect(realRe2ProgramSizes(['a', '('])).rejects.toThrow(/RE2 rejects "\(": missing \)/);
  });
});
