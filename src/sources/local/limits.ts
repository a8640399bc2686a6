import { CST, Lexer } from 'yaml';

/**
 * Caps on one definition file (api.yaml, a definition, any YAML/JSON of a project), checked before
 * the file is parsed into a tree: a huge, bushy or deeply nested file is refused with a message
 * naming it, rather than taking the adapter's memory or stack.
 */
export interface DefinitionLimits {
  /** Largest file, in bytes (config adapter.maxDefinitionBytes). */
  maxBytes: number;
  /** Most YAML/JSON nodes (keys, values, list items), aliases expanded (adapter.maxDefinitionNodes). */
  maxNodes: number;
  /** Deepest nesting of maps and lists (adapter.maxDefinitionDepth). */
  maxDepth: number;
}

/**
 * yaml keeps about 1 KiB per node while it parses (CST, document, plain value); ordinary OpenAPI
 * YAML has a node every 11 bytes or so. So 8 MiB is about 750 000 nodes, about 800 MB at the peak.
 * JSON is parsed by JSON.parse (document.ts), at a tenth of that.
 */
export const DEFAULT_LIMITS: DefinitionLimits = { maxBytes: 8 * 1024 * 1024, maxNodes: 750_000, maxDepth: 100 };

/** Lexer tokens that start a node (plain and block scalars are announced by SCALAR instead). */
const NODE_TOKENS = new Set<string | null>(['single-quoted-scalar', 'double-quoted-scalar', 'alias', 'flow-map-start', 'flow-seq-start', 'seq-item-ind']);
/** Lexer control tokens: they take no room in the text. */
const CONTROL = new Set<string>([CST.DOCUMENT, CST.FLOW_END, CST.BOM]);

/**
 * Why the text is over a cap, with the 1-based line where it went over; undefined when within.
 * One pass of yaml's lexer (a flat token stream, no tree, no recursion): flow nesting is counted
 * exactly, block nesting as the indentation levels open where a line (or a `- ` item) starts,
 * which may count a leaf as one more level.
 */
export function overLimits(text: string, limits: DefinitionLimits): { reason: string; line: number } | undefined {
  let nodes = 0;
  let line = 1;
  let col = 0;
  let flow = 0;
  const indents: number[] = [];
  /** The next token starts a line, or follows `- `/`? `, so its column is a block indentation. */
  let opens = true;
  let scalarSource = false;
  let blockScalar = false;
  const advance = (token: string): void => {
    const last = token.lastIndexOf('\n');
    if (last < 0) return void (col += token.length);
    for (let i = token.indexOf('\n'); i >= 0; i = token.indexOf('\n', i + 1)) line++;
    col = token.length - last - 1;
  };
  for (const token of new Lexer().lex(text)) {
    if (scalarSource) {
      // The source of a plain or block scalar: any text, perhaps over several lines.
      scalarSource = false;
      advance(token);
      continue;
    }
    const type = token === CST.SCALAR ? 'scalar' : CST.tokenType(token);
    const node = type === 'scalar' || NODE_TOKENS.has(type);
    if (node && flow === 0 && opens && !blockScalar) {
      while (indents.length && indents[indents.length - 1] > col) indents.pop();
      if (!indents.length || indents[indents.length - 1] < col) indents.push(col);
    }
    if (node && ++nodes > limits.maxNodes) return { reason: nodesReason(limits.maxNodes), line };
    if (type === 'flow-map-start' || type === 'flow-seq-start') flow++;
    else if ((type === 'flow-map-end' || type === 'flow-seq-end') && flow > 0) flow--;
    if (indents.length + flow > limits.maxDepth) return { reason: depthReason(limits.maxDepth), line };
    if (type === 'scalar') {
      scalarSource = true;
      blockScalar = false;
      opens = false;
      continue;
    }
    if (CONTROL.has(token)) continue;
    if (type === 'newline') opens = true;
    else if (type === 'seq-item-ind' || type === 'explicit-key-ind') opens = true;
    else if (type !== 'space') opens = false;
    if (type === 'block-scalar-header') blockScalar = true;
    advance(token);
  }
  return undefined;
}

/**
 * The same caps on a parsed value, walked without recursion: aliases can multiply nodes and
 * nesting beyond what the text shows (a "billion laughs" file).
 */
export function valueOverLimits(value: unknown, limits: DefinitionLimits): string | undefined {
  let nodes = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (++nodes > limits.maxNodes) return `more than ${limits.maxNodes} YAML/JSON nodes once aliases are expanded (adapter.maxDefinitionNodes)`;
    if (v === null || typeof v !== 'object') continue;
    if (depth >= limits.maxDepth) return depthReason(limits.maxDepth);
    for (const child of Array.isArray(v) ? v : Object.values(v as object)) stack.push([child, depth + 1]);
  }
  return undefined;
}

export const nodesReason = (max: number): string => `more than ${max} YAML/JSON nodes (adapter.maxDefinitionNodes)`;
export const depthReason = (max: number): string => `nested deeper than ${max} levels (adapter.maxDefinitionDepth)`;

/** `16 MiB`, `1.5 KiB`, `512 bytes`. */
export function byteSize(n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n >= size) return `${Number((n / size).toFixed(1))} ${unit}`;
  }
  return `${n} bytes`;
}
