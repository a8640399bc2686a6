import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, YAMLParseError } from 'yaml';
import type { Document, Node } from 'yaml';
import { formatPath, PathSeg, ProjectError } from './errors';
import { JsonPositions, memberCount, scanJson } from './json';
import { byteSize, DEFAULT_LIMITS, DefinitionLimits, overLimits, valueOverLimits } from './limits';

/** Where the parsed value came from, to find the line of a key when an error names it. */
type Origin = { yaml: Document; lines: LineCounter } | { json: JsonPositions };

/**
 * One parsed YAML or JSON file of a project. JSON goes through JSON.parse, YAML through the YAML
 * parser, whose syntax tree is kept; either way semantic errors name the line of the offending
 * key, found only when an error is reported.
 */
export class ProjectDoc {
  /** A wrapper prefix (api.yaml's `data`) left out of messages: users think in its fields. */
  private quietPrefix: readonly PathSeg[] = [];

  private constructor(
    readonly source: string,
    readonly file: string,
    readonly value: unknown,
    private readonly origin: Origin,
  ) {}

  /**
   * Parses one file's bytes. Over a cap of `limits` (bytes, nodes, nesting, aliases), it is
   * refused before a tree is built, with the reason and, where known, the line.
   */
  static parse(source: string, file: string, bytes: Uint8Array, limits: DefinitionLimits = DEFAULT_LIMITS): ProjectDoc {
    if (bytes.length > limits.maxBytes) {
      throw new ProjectError(source, file, `${byteSize(bytes.length)} is over the ${byteSize(limits.maxBytes)} limit for one file (adapter.maxDefinitionBytes)`);
    }
    let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const json = JSON_FILE.test(file) || JSON_START.test(text) ? ProjectDoc.parseJson(source, file, text, limits) : undefined;
    if (json) return json;
    const over = overLimits(text, limits);
    if (over) throw new ProjectError(source, file, over.reason, over.line);
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines });
    if (doc.errors.length === 0) return new ProjectDoc(source, file, checked(source, file, () => doc.toJS({ maxAliasCount: 100 }), limits), { yaml: doc, lines });
    const first = doc.errors[0] as YAMLParseError;
    // Some valid JSON (odd whitespace, tabs) is not valid YAML; JSON.parse has the last word for
    // .json, except on duplicate keys, which JSON.parse would silently resolve to the last one.
    if (JSON_FILE.test(file) && first.code !== 'DUPLICATE_KEY') {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        const at = /at position (\d+)/.exec((err as Error).message);
        const line = at ? text.slice(0, Number(at[1])).split('\n').length : undefined;
        throw new ProjectError(source, file, `malformed JSON: ${(err as Error).message}`, line);
      }
      return new ProjectDoc(source, file, checked(source, file, () => value, limits), { json: new JsonPositions(text) });
    }
    const reason = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ProjectError(source, file, `malformed YAML: ${reason}`, first.linePos?.[0].line);
  }

  /**
   * The fast path: JSON.parse, with the caps counted in one flat pass first (JSON has no aliases,
   * so the text tells all). Undefined when the text is not plain JSON, or repeats a key: the
   * YAML path then decides, and words any error as it always has.
   */
  private static parseJson(source: string, file: string, text: string, limits: DefinitionLimits): ProjectDoc | undefined {
    const scan = scanJson(text, limits);
    if (scan.over) throw new ProjectError(source, file, scan.over.reason, scan.over.line);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (memberCount(value) !== scan.members) return undefined;
    return new ProjectDoc(source, file, value, { json: new JsonPositions(text) });
  }

  /** The value at `path` in the plain JS value. */
  get(path: readonly PathSeg[]): unknown {
    let v: unknown = this.value;
    for (const seg of path) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string, unknown>)[seg as string];
    }
    return v;
  }

  /**
   * A scalar as the user wrote it: `version: 1.0` is the string "1.0", not the number 1.
   * Undefined when absent or null; an error for maps and lists.
   */
  text(path: readonly PathSeg[]): string | undefined {
    const v = this.get(path);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return this.written(path) ?? String(v);
    return this.fail(path, `expected a string, got ${Array.isArray(v) ? 'a list' : 'a map'}`);
  }

  /** Messages name paths below `prefix` relative to it (`endpointConfig.url`, not `data.endpointConfig.url`). */
  setQuietPrefix(prefix: readonly PathSeg[]): void {
    this.quietPrefix = prefix;
  }

  /** Throws a ProjectError at the line of the key (or list item) at `path`. */
  fail(path: readonly PathSeg[], reason: string): never {
    const quiet = this.quietPrefix.length > 0 && this.quietPrefix.every((seg, i) => path[i] === seg);
    const where = formatPath(quiet ? path.slice(this.quietPrefix.length) : path);
    throw new ProjectError(this.source, this.file, where ? `${where}: ${reason}` : reason, this.lineOf(path));
  }

  /** 1-based line of the key at `path`; of the nearest existing ancestor when it is missing. */
  lineOf(path: readonly PathSeg[]): number | undefined {
    if ('json' in this.origin) return this.origin.json.lineAt(this.origin.json.find(path).at);
    const { yaml: doc, lines } = this.origin;
    let node = doc.contents as Node | null;
    let offset = node?.range?.[0];
    for (const seg of path) {
      if (node && isAlias(node)) node = node.resolve(doc) ?? null;
      if (node && isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        offset = (pair.key as Node).range?.[0] ?? offset;
        node = pair.value as Node | null;
      } else if (node && isSeq(node) && typeof seg === 'number') {
        const item = node.items[seg] as Node | undefined;
        if (!item) break;
        offset = item.range?.[0] ?? offset;
        node = item;
      } else break;
    }
    return offset === undefined ? undefined : lines.linePos(offset).line;
  }

  /** A number or boolean scalar's text as written, when it can be told. */
  private written(path: readonly PathSeg[]): string | undefined {
    if ('json' in this.origin) {
      const { value } = this.origin.json.find(path);
      return value === undefined ? undefined : this.origin.json.literalAt(value);
    }
    const node = this.origin.yaml.getIn(path as PathSeg[], true);
    return node && typeof node === 'object' && isScalar(node) && typeof node.source === 'string' ? node.source : undefined;
  }
}

const JSON_FILE = /\.json$/i;
/** JSON whatever the file is called (YAML that starts so is tried as JSON first). */
const JSON_START = /^\s*[{[]/;

/** The plain value, within the caps once aliases are expanded. */
function checked(source: string, file: string, value: () => unknown, limits: DefinitionLimits): unknown {
  let v: unknown;
  try {
    v = value();
  } catch (err) {
    // yaml refuses aliases that expand past maxAliasCount ("billion laughs").
    if (err instanceof ReferenceError) throw new ProjectError(source, file, 'too many aliases: they would expand past the limit of 100 (an alias bomb?)');
    if (err instanceof RangeError) throw new ProjectError(source, file, 'nested too deeply once aliases are expanded');
    throw err;
  }
  const reason = valueOverLimits(v, limits);
  if (reason) throw new ProjectError(source, file, reason);
  return v;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
