/**
 * How big Envoy's RE2 will find a route regex, computed without RE2.
 *
 * Envoy compiles every `safe_regex` with RE2's default options (UTF-8, case sensitive) and rejects
 * the regex when `RE2::ProgramSize()` exceeds the runtime value `re2.max_program_size.error_level`
 * (100 unless changed). One such regex makes Envoy NACK the whole RouteConfiguration, so the
 * translator checks each regex it generates against this limit before sending it.
 *
 * `re2ProgramSize` models, for the small regex subset the translator produces, the steps of RE2
 * that decide the instruction count (facts observed in RE2's behaviour, checked against libre2 by
 * test/envoy/re2.test.ts):
 *  1. Parsing: adjacent literals form one literal string, also across a `(?:literal)` group; an
 *     alternation of literals is factored: adjacent alternatives sharing leading characters keep
 *     that prefix once (recursively), adjacent one-character alternatives become a character
 *     class; `x+x+` is rewritten `xx+`.
 *  2. A literal string right after `^` is not compiled: RE2 checks it as a required prefix, and
 *     the rest is compiled as if unanchored at the start (which costs a 2-entry `.*?` loop).
 *     A leading `^` and a trailing `$` otherwise become flags, not instructions.
 *  3. Compiling: one instruction per literal byte (UTF-8); a class has one instruction per
 *     contiguous ASCII range, and if it also covers U+0080..U+10FFFF (`[^/]`, `.`) three lead-byte
 *     instructions (C2-DF, E0-EF, F0-F4) plus a shared chain of three continuation-byte
 *     instructions; `?`, `*`, `+` and `|` add Alt instructions; an empty alternative (`(?:a|)`,
 *     or what factoring leaves of `(?:ab|a)`) is a Nop; one Match, one Fail.
 *  4. Flattening (what ProgramSize counts): Alts and Nops disappear. The program becomes lists
 *     of instructions, one per "root" (the start, the target of every byte instruction, and any
 *     instruction reachable without consuming input from two different roots). Each list holds
 *     the byte and Match instructions its root reaches without consuming input, and one Nop per
 *     other root it reaches. ProgramSize = 1 (Fail) + the total length of the lists.
 *     E.g. `[^/]+` costs 9: its 5 lead bytes (its own root's list), 3 continuation bytes, and the
 *     Nop by which the list after it loops back; so `^/pets/[^/]+$` = 1 + 2 + 9 + 1 (Match) = 13.
 *
 * Patterns outside the subset throw `Re2ModelError` (rather than guessing): the translator only
 * builds regexes from the subset, so a throw means a translator bug, not a user error.
 * Supported: `^` at the start, `$` at the end, literal characters (plain, `\` + ASCII
 * punctuation, `\xHH`), `.`, bracket classes of ASCII characters/ranges (optionally negated),
 * `(?:...)` and `(...)` groups, `?` `*` `+` (greedy) on a character, class or group, and `|` inside
 * a group between distinct literal alternatives (one-character alternatives must be ASCII).
 * Measured exact (no slack) on every pattern of the test, libre2 2022-06-01.
 */

/** Envoy's default `re2.max_program_size.error_level`. */
export const RE2_DEFAULT_MAX_PROGRAM_SIZE = 100;

/** A regex this module cannot size (it is outside the subset the translator generates). */
export class Re2ModelError extends Error {
  constructor(pattern: string, why: string) {
    super(`cannot size RE2 pattern ${JSON.stringify(pattern)}: ${why}`);
    this.name = 'Re2ModelError';
  }
}

// Characters with a meaning in RE2 outside classes. JavaScript's RegExp has exactly the same
// syntax characters, and escaping only these keeps the result valid with the `u` flag too
// (which rejects needless escapes such as `\-` or `\~`).
const META = new Set('\\^$.|?*+()[]{}');

/** `literal` as an RE2 (and JavaScript RegExp) pattern matching exactly that text. */
export function escapeRe2(literal: string): string {
  let out = '';
  for (const ch of literal) {
    const cp = ch.codePointAt(0)!;
    if (META.has(ch)) out += `\\${ch}`;
    // Control characters: spelled out so the pattern stays one printable line.
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out;
}

/** Estimated `RE2::ProgramSize()` of `pattern` compiled as Envoy does. Throws Re2ModelError outside the subset. */
export function re2ProgramSize(pattern: string): number {
  // RE2 does not compile the literal prefix after `^`, so the size depends only on what follows
  // it: route regexes of one shape share a size whatever their base path. A literal followed by
  // a quantifier is not part of the prefix, so that last token stays in the key.
  const { end, last } = literalRun(pattern);
  const key = '?*+{'.includes(pattern[end] ?? '-') ? pattern.slice(last) : `^${pattern.slice(end)}`;
  let size = sizes.get(key);
  if (size === undefined) {
    if (sizes.size >= 50_000) sizes.clear();
    sizes.set(key, (size = computeSize(pattern)));
  }
  return size;
}

const sizes = new Map<string, number>();

/** Where the literal run after a leading `^` ends, and where its last token starts. */
function literalRun(p: string): { end: number; last: number } {
  if (p[0] !== '^') return { end: 0, last: 0 };
  let i = 1;
  let last = 1;
  while (i < p.length) {
    const c = p.charCodeAt(i);
    let len = 0;
    if (p[i] === '\\') {
      if (p[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(p.slice(i + 2, i + 4))) len = 4;
      else if (p[i + 1] !== undefined && !/[A-Za-z0-9]/.test(p[i + 1])) len = 2;
    } else if (c >= 0xd800 && c <= 0xdbff) len = 2;
    else if (!'^$.|?*+()[]{}'.includes(p[i])) len = 1;
    if (len === 0) break;
    last = i;
    i += len;
  }
  return { end: i, last };
}

function computeSize(pattern: string): number {
  const parsed = new Parser(pattern).parseTop();
  let items = parsed.items;
  let unanchoredStart = !parsed.anchoredStart;
  if (parsed.anchoredStart && items[0]?.t === 'lit') {
    items = items.slice(1); // the required prefix: checked, not compiled
    unanchoredStart = true;
  }
  return flatSize(compile({ t: 'cat', items }, { kind: 'match', out: [] }), unanchoredStart);
}

// ---------------------------------------------------------------------------------------------
// Parsing into RE2's simplified shape

type Ast =
  /** A literal string; `glued` ones merge with neighbouring literals, a factored-out prefix does not. */
  | { t: 'lit'; text: string; glued: boolean }
  /** A class: `key` identifies the set, `ascii` counts its ranges below 0x80, `wide` = covers U+0080..U+10FFFF. */
  | { t: 'class'; key: string; ascii: number; wide: boolean }
  /** An empty alternative, written (`(?:a|)`) or left by factoring (`(?:ab|a)` = `a(?:b|)`). */
  | { t: 'empty' }
  | { t: 'cat'; items: Ast[] }
  | { t: 'alt'; subs: Ast[] }
  | { t: 'rep'; op: '?' | '*' | '+'; sub: Ast }
  | { t: 'cap'; sub: Ast };

const EMPTY: Ast = { t: 'empty' };

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  private fail(why: string): never {
    throw new Re2ModelError(this.src, `${why} (at offset ${this.i})`);
  }

  parseTop(): { anchoredStart: boolean; items: Ast[] } {
    const anchoredStart = this.src.startsWith('^');
    if (anchoredStart) this.i = 1;
    const items = this.parseCat(true);
    if (this.i < this.src.length) this.fail(this.src[this.i] === '|' ? 'top-level | (wrap it in (?:...))' : 'unbalanced )');
    return { anchoredStart, items };
  }

  /** A concatenation, up to `|`, `)` or the end. At top level a final `$` is an anchor (a flag in RE2). */
  private parseCat(top: boolean): Ast[] {
    const items: Ast[] = [];
    while (this.i < this.src.length) {
      const c = this.src[this.i];
      if (c === '|' || c === ')') break;
      if (c === '$') {
        if (top && this.i === this.src.length - 1) {
          this.i++;
          break;
        }
        this.fail('$ only supported at the end');
      }
      let atom = this.parseAtom();
      const q = this.src[this.i];
      if (q === '?' || q === '*' || q === '+') {
        this.i++;
        const after = this.src[this.i];
        if (after === '?' || after === '*' || after === '+' || after === '{') this.fail('lazy or repeated quantifier');
        if (nullable(atom)) this.fail('quantified group that can match empty');
        atom = { t: 'rep', op: q, sub: atom.t === 'cat' && atom.items.length === 1 ? atom.items[0] : atom };
      } else if (q === '{') this.fail('{n,m} repeats are not modelled');
      push(items, atom, this.src);
    }
    return items;
  }

  /** One character, class or group. A `(?:...)` comes back as a 'cat' to be spliced into the parent. */
  private parseAtom(): Ast {
    const c = this.src[this.i];
    if (c === '(') {
      let capture = true;
      this.i++;
      if (this.src.startsWith('?:', this.i)) {
        capture = false;
        this.i += 2;
      } else if (this.src[this.i] === '?') this.fail('group flags');
      const sub = this.parseAlt();
      if (this.src[this.i] !== ')') this.fail('missing )');
      this.i++;
      return capture ? { t: 'cap', sub } : sub;
    }
    if (c === '[') return this.parseClass();
    if (c === '.') {
      this.i++;
      return { t: 'class', key: '.', ascii: 2, wide: true }; // [^\n]: 00-09, 0B-7F, then the non-ASCII part
    }
    if (c === '^' || c === '*' || c === '+' || c === '?' || c === '{' || c === ']' || c === '}') this.fail(`unexpected ${c}`);
    return { t: 'lit', text: String.fromCodePoint(this.parseChar()), glued: true };
  }

  /** An alternation inside a group; a single branch comes back as its 'cat'. */
  private parseAlt(): Ast {
    const branches = [this.parseCat(false)];
    while (this.src[this.i] === '|') {
      this.i++;
      branches.push(this.parseCat(false));
    }
    // An empty group or a repeated alternative leaves RE2 empty matches whose cost depends on
    // where they land; the translator never writes either, so they are not modelled.
    if (branches.length === 1) return branches[0].length === 0 ? this.fail('empty group') : { t: 'cat', items: branches[0] };
    const literals = branches.map((b) => {
      if (b.length === 0) return '';
      if (b.length === 1 && b[0].t === 'lit') return b[0].text;
      return this.fail('alternatives other than plain literals are not modelled');
    });
    if (new Set(literals).size < literals.length) this.fail('repeated alternative');
    return factorAlternation(literals, this.src);
  }

  /** A literal character: plain, `\` + ASCII punctuation, or `\xHH`. Returns its code point. */
  private parseChar(): number {
    const c = this.src.codePointAt(this.i)!;
    if (c !== 0x5c) {
      this.i += c > 0xffff ? 2 : 1;
      return c;
    }
    const e = this.src[this.i + 1] ?? '';
    const hex = /^x([0-9a-fA-F]{2})/.exec(this.src.slice(this.i + 1));
    if (hex) {
      this.i += 4;
      return parseInt(hex[1], 16);
    }
    if (!/^[!-/:-@[-`{-~]$/.test(e)) this.fail(`escape \\${e} is not modelled`);
    this.i += 2;
    return e.charCodeAt(0);
  }

  private parseClass(): Ast {
    const start = this.i++;
    const negated = this.src[this.i] === '^';
    if (negated) this.i++;
    const set = new Set<number>();
    while (this.src[this.i] !== ']' || this.i === start + 1 + (negated ? 1 : 0)) {
      if (this.i >= this.src.length) this.fail('missing ]');
      const lo = this.parseChar();
      let hi = lo;
      if (this.src[this.i] === '-' && this.src[this.i + 1] !== ']') {
        this.i++;
        hi = this.parseChar();
      }
      if (hi >= 0x80 || hi < lo) this.fail('class with non-ASCII members or a bad range');
      for (let cp = lo; cp <= hi; cp++) set.add(cp);
    }
    this.i++;
    let ranges = 0;
    for (let cp = 0; cp < 0x80; cp++) if (set.has(cp) !== negated && (cp === 0 || set.has(cp - 1) === negated)) ranges++;
    if (ranges === 0 && !negated) this.fail('empty class');
    return { t: 'class', key: this.src.slice(start, this.i), ascii: ranges, wide: negated };
  }
}

function nullable(a: Ast): boolean {
  switch (a.t) {
    case 'lit':
      return a.text === '';
    case 'class':
      return false;
    case 'empty':
      return true;
    case 'cat':
      return a.items.every(nullable);
    case 'alt':
      return a.subs.some(nullable);
    case 'rep':
      return a.op !== '+' || nullable(a.sub);
    case 'cap':
      return nullable(a.sub);
  }
}

/** Appends `a` to a concatenation the way RE2's parser does: splice groups, glue literals, coalesce `x+x+`. */
function push(items: Ast[], a: Ast, src: string): void {
  if (a.t === 'cat') {
    for (const x of a.items) push(items, x, src);
    return;
  }
  const last = items[items.length - 1];
  if (a.t === 'lit' && a.glued && last?.t === 'lit' && last.glued) {
    items[items.length - 1] = { ...last, text: last.text + a.text };
    return;
  }
  // RE2 merges a repeat of a one-character atom with a following repeat of (or copy of) that
  // atom into x{n,m}. Only `x+x+` -> `xx+` (two adjacent path parameters) is modelled.
  if (last?.t === 'rep' && atomKey(last.sub) !== undefined) {
    const next = a.t === 'rep' ? atomKey(a.sub) : a.t === 'lit' ? `lit:${String.fromCodePoint(a.text.codePointAt(0)!)}` : atomKey(a);
    if (next === atomKey(last.sub)) {
      if (last.op !== '+' || a.t !== 'rep' || a.op !== '+') throw new Re2ModelError(src, 'adjacent repeats of one character or class other than x+x+');
      items[items.length - 1] = last.sub;
    }
  }
  items.push(a);
}

function atomKey(a: Ast): string | undefined {
  if (a.t === 'class') return `class:${a.key}`;
  if (a.t === 'lit' && [...a.text].length === 1) return `lit:${a.text}`;
  return undefined;
}

/** RE2's factoring of an alternation of literal strings (see the header). */
function factorAlternation(alternatives: string[], src: string): Ast {
  const subs: Ast[] = [];
  // Round 1: runs of adjacent alternatives with a common leading string share it.
  for (let i = 0; i < alternatives.length; ) {
    let prefix = [...alternatives[i]];
    let j = i + 1;
    for (; j < alternatives.length; j++) {
      const next = [...alternatives[j]];
      let same = 0;
      while (same < prefix.length && same < next.length && prefix[same] === next[same]) same++;
      if (same === 0) break;
      prefix = prefix.slice(0, same);
    }
    if (j - i >= 2) {
      const rest = alternatives.slice(i, j).map((a) => [...a].slice(prefix.length).join(''));
      subs.push({ t: 'cat', items: [{ t: 'lit', text: prefix.join(''), glued: false }, factorAlternation(rest, src)] });
    } else {
      subs.push(alternatives[i] === '' ? EMPTY : { t: 'lit', text: alternatives[i], glued: true });
    }
    i = j;
  }
  // Then runs of adjacent one-character literals become one class.
  const out: Ast[] = [];
  for (let i = 0; i < subs.length; ) {
    let j = i;
    while (j < subs.length && isOneChar(subs[j])) j++;
    if (j - i >= 2) {
      const cps = subs.slice(i, j).map((s) => (s as { text: string }).text.codePointAt(0)!);
      if (cps.some((cp) => cp >= 0x80)) throw new Re2ModelError(src, 'non-ASCII one-character alternatives');
      const set = new Set(cps);
      const ranges = [...set].filter((cp) => !set.has(cp - 1)).length;
      out.push({ t: 'class', key: `alt:${[...set].sort((x, y) => x - y).join(',')}`, ascii: ranges, wide: false });
      i = j;
      continue;
    }
    out.push(subs[i++]);
  }
  return out.length === 1 ? out[0] : { t: 'alt', subs: out };
}

function isOneChar(a: Ast): boolean {
  return a.t === 'lit' && [...a.text].length === 1;
}

// ---------------------------------------------------------------------------------------------
// Compiling into a graph, then counting what flattening leaves

/** 'byte' consumes input (a byte range, or a capture marker); 'alt' and 'nop' do not. */
interface Inst {
  kind: 'byte' | 'alt' | 'nop' | 'match';
  out: Inst[];
}

const byte = (next: Inst): Inst => ({ kind: 'byte', out: [next] });
const alt = (out: Inst[]): Inst => (out.length === 1 ? out[0] : { kind: 'alt', out });

/** The entry instruction of `a` followed by `next`. */
function compile(a: Ast, next: Inst): Inst {
  switch (a.t) {
    case 'lit': {
      let entry = next;
      const bytes = Buffer.byteLength(a.text, 'utf8');
      for (let k = 0; k < bytes; k++) entry = byte(entry);
      return entry;
    }
    case 'class': {
      const leads: Inst[] = [];
      for (let k = 0; k < a.ascii; k++) leads.push(byte(next));
      if (a.wide) {
        // U+0080..U+10FFFF, loosely: lead bytes C2-DF, E0-EF, F0-F4 into a chain of 80-BF bytes.
        const cont1 = byte(next);
        const cont2 = byte(cont1);
        const cont3 = byte(cont2);
        leads.push(byte(cont1), byte(cont2), byte(cont3));
      }
      return alt(leads);
    }
    case 'empty':
      return { kind: 'nop', out: [next] };
    case 'cat':
      return a.items.reduceRight((n, item) => compile(item, n), next);
    case 'alt':
      return alt(a.subs.map((s) => compile(s, next)));
    case 'cap':
      return byte(compile(a.sub, byte(next)));
    case 'rep': {
      const loop: Inst = { kind: 'alt', out: [] };
      if (a.op === '?') return alt([compile(a.sub, next), next]);
      const body = compile(a.sub, loop);
      loop.out = [body, next];
      return a.op === '*' ? loop : body;
    }
  }
}

/** ProgramSize after RE2 flattens the graph at `start` (see step 4 in the header). */
function flatSize(start: Inst, unanchoredStart: boolean): number {
  const roots = new Set<Inst>();
  if (unanchoredStart) {
    const loop: Inst = { kind: 'alt', out: [] };
    loop.out = [start, byte(loop)]; // `.*?` before the pattern
    roots.add(loop);
  }
  roots.add(start);
  const fixedRoots = new Set(roots);

  // Every instruction after a byte is a root; remember who branches to what.
  const preds = new Map<Inst, Set<Inst>>();
  const seen = new Set<Inst>();
  const stack = [...roots];
  while (stack.length > 0) {
    const ip = stack.pop()!;
    if (seen.has(ip)) continue;
    seen.add(ip);
    for (const o of ip.out) {
      if (ip.kind === 'byte') roots.add(o);
      else {
        if (!preds.has(o)) preds.set(o, new Set());
        preds.get(o)!.add(ip);
      }
      stack.push(o);
    }
  }

  /** What `root` reaches without consuming input, stopping at other roots. */
  const epsilonReach = (root: Inst): Set<Inst> => {
    const reach = new Set<Inst>();
    const todo = [root];
    while (todo.length > 0) {
      const ip = todo.pop()!;
      if (reach.has(ip) || (ip !== root && roots.has(ip))) continue;
      reach.add(ip);
      if (ip.kind === 'alt' || ip.kind === 'nop') todo.push(...ip.out);
    }
    return reach;
  };

  // An instruction also branched to from outside a root's tree gets its own list.
  for (const root of [...roots]) {
    if (fixedRoots.has(root)) continue;
    const reach = epsilonReach(root);
    for (const ip of reach) {
      if (ip !== root && [...(preds.get(ip) ?? [])].some((p) => !reach.has(p))) roots.add(ip);
    }
  }

  let size = 1; // Fail
  for (const root of roots) {
    const reach = new Set<Inst>();
    const todo = [root];
    while (todo.length > 0) {
      const ip = todo.pop()!;
      if (reach.has(ip)) continue;
      reach.add(ip);
      if (ip !== root && roots.has(ip)) size++; // a Nop into that root's list
      else if (ip.kind === 'alt' || ip.kind === 'nop') todo.push(...ip.out);
      else size++;
    }
  }
  return size;
}

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  digit: '0-9',
  lower: 'a-z',
  upper: 'A-Z',
  space: '\\t\\n\\v\\f\\r ',
  xdigit: '0-9A-Fa-f',
  word: '0-9A-Za-z_',
  punct: '!-\\/:-@\\[-`{-~',
};

/**
 * RE2 syntax as a JavaScript RegExp. The two mostly agree; what differs is translated (\A, \z,
 * \Q..\E, (?P<name>), a leading ] in a class, POSIX classes, leading flags) and what JavaScript
 * cannot express the same way, or RE2 would reject, is an error rather than a silent mismatch.
 */
export function re2ToJs(re2: string): { source: string; flags: string } {
  const bad = (what: string): Error => new Error(`regex ${JSON.stringify(re2)}: ${what}`);
  let flags = '';
  let i = 0;
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(re2);
  if (lead) {
    for (const f of lead[1]) {
      if (f !== 'i' && f !== 's' && f !== 'm') throw bad(`flag ${f} is not supported`);
      flags += f;
    }
    i = lead[0].length;
  }
  const escape = (at: number, inClass: boolean): [string, number] => {
    const n = re2[at + 1];
    if (n === undefined) throw bad('trailing backslash');
    if (!inClass && n === 'A') return ['^', at + 2];
    if (!inClass && n === 'z') {
      if (flags.includes('m')) throw bad('\\z with the m flag is not supported');
      return ['$', at + 2]; // without the m flag, JavaScript's $ is the end of input, as \z is
    }
    if (n === 'Q') {
      const end = re2.indexOf('\\E', at + 2);
      const literal = re2.slice(at + 2, end < 0 ? undefined : end);
      return [literal.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&'), end < 0 ? re2.length : end + 2];
    }
    if (n === 'p' || n === 'P' || n === 'C') throw bad(`\\${n} is not supported`);
    if (/[1-9]/.test(n)) throw bad('backreferences are not RE2 syntax');
    return [`\\${n}`, at + 2];
  };

  let out = '';
  while (i < re2.length) {
    const c = re2[i];
    if (c === '\\') {
      const [s, next] = escape(i, false);
      out += s;
      i = next;
    } else if (c === '[') {
      out += '[';
      i++;
      if (re2[i] === '^') out += re2[i++];
      if (re2[i] === ']') (out += '\\]'), i++; // RE2 takes a leading ] literally; JavaScript would close the class
      while (i < re2.length && re2[i] !== ']') {
        if (re2[i] === '\\') {
          const [s, next] = escape(i, true);
          out += s;
          i = next;
        } else if (re2.startsWith('[:', i)) {
          const end = re2.indexOf(':]', i);
          const cls = end < 0 ? undefined : POSIX_CLASSES[re2.slice(i + 2, end)];
          if (!cls) throw bad(`POSIX class at ${i} is not supported`);
          out += cls;
          i = end + 2;
        } else if (re2[i] === '[') (out += '\\['), i++;
        else out += re2[i++];
      }
      if (i >= re2.length) throw bad('missing ]');
      out += ']';
      i++;
    } else if (c === '(' && re2[i + 1] === '?') {
      const named = /^\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(re2.slice(i));
      if (re2[i + 2] === ':') (out += '(?:'), (i += 3);
      else if (named) (out += `(?<${named[1]}>`), (i += named[0].length);
      else throw bad(`"${re2.slice(i, i + 4)}" (flags or lookaround) is not supported`);
    } else out += re2[i++];
  }
  return { source: out, flags };
}
