import { ProjectDoc, isRecord } from './document';
import { PathSeg, whereOf } from './errors';

/**
 * `$ref` path items: `{$ref: '#/components/pathItems/pets'}`, `{$ref: 'paths/pets.yaml'}`.
 * References are followed within the definition and to other files of the same project, as
 * many times as they chain; a cycle, a remote URL or a missing target is an error at the `$ref`.
 */

/** A place in one of the project's files. */
export interface Loc {
  doc: ProjectDoc;
  at: PathSeg[];
}

/** `apis/orders.yaml:94`: where the thing at `loc` is written, for reports. */
export function whereIn(loc: Loc): string {
  return whereOf(loc.doc.source, loc.doc.file, loc.doc.lineOf(loc.at));
}

/** Another file of the project, named relative to `from`; undefined when the project has none by that name. */
export type OpenFile = (from: ProjectDoc, relative: string) => ProjectDoc | undefined;

/**
 * The fields of the path item at `loc`, each with the place it is written. A field beside a
 * `$ref` wins over the referenced one of that name (OpenAPI leaves the case open; the author's
 * own text is the closest). Throws a ProjectError at the `$ref` that cannot be followed.
 */
export function pathItemFields(loc: Loc, open: OpenFile): Map<string, Loc> {
  const fields = new Map<string, Loc>();
  const seen = new Set([placeKey(loc)]);
  let cur = loc;
  for (;;) {
    const item = cur.doc.get(cur.at);
    if (!isRecord(item)) return cur.doc.fail(cur.at, 'expected a map of operations');
    for (const key of Object.keys(item)) if (key !== '$ref' && !fields.has(key)) fields.set(key, { doc: cur.doc, at: [...cur.at, key] });
    if (item.$ref === undefined) return fields;
    const refAt = [...cur.at, '$ref'];
    if (typeof item.$ref !== 'string') return cur.doc.fail(refAt, 'expected a reference (a string)');
    const next = resolveRef(cur.doc, refAt, item.$ref, open);
    if (seen.has(placeKey(next))) return cur.doc.fail(refAt, `reference cycle: ${JSON.stringify(item.$ref)} leads back to a path item already followed`);
    if (!isRecord(next.doc.get(next.at))) return cur.doc.fail(refAt, `${JSON.stringify(item.$ref)} leads to no path item (a map)`);
    seen.add(placeKey(next));
    cur = next;
  }
}

const placeKey = (l: Loc): string => `${l.doc.file}\0${l.at.join('\0')}`;

/** Where `ref` (written at `refAt` in `doc`) points: `#/a/b`, `other.yaml`, `other.yaml#/a`. */
function resolveRef(doc: ProjectDoc, refAt: PathSeg[], ref: string, open: OpenFile): Loc {
  const hash = ref.indexOf('#');
  const file = hash < 0 ? ref : ref.slice(0, hash);
  const fragment = hash < 0 ? '' : ref.slice(hash + 1);
  if (/^[a-z][a-z0-9+.-]*:/i.test(file) || file.startsWith('//')) {
    return doc.fail(refAt, `remote reference ${JSON.stringify(ref)} is not followed: only references within the project are`);
  }
  const target = file ? open(doc, file) : doc;
  if (!target) return doc.fail(refAt, `${JSON.stringify(file)} is not a file of this project`);
  let pointer: string;
  try {
    pointer = decodeURIComponent(fragment);
  } catch {
    return doc.fail(refAt, `malformed reference ${JSON.stringify(ref)} (a bad %-escape)`);
  }
  if (pointer !== '' && !pointer.startsWith('/')) return doc.fail(refAt, `${JSON.stringify(ref)}: expected a JSON pointer after "#" ("#/components/pathItems/name")`);
  const at: PathSeg[] = [];
  let v = target.value;
  for (const raw of pointer === '' ? [] : pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(v) && /^(0|[1-9]\d*)$/.test(seg) && Number(seg) < v.length) {
      at.push(Number(seg));
      v = v[Number(seg)];
    } else if (isRecord(v) && Object.prototype.hasOwnProperty.call(v, seg)) {
      at.push(seg);
      v = v[seg];
    } else return doc.fail(refAt, `${JSON.stringify(ref)} leads nowhere: ${file || 'the definition'} has nothing at ${JSON.stringify(pointer)}`);
  }
  return { doc: target, at };
}
