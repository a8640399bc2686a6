import * as crypto from 'node:crypto';

/** JSON as one base64url JWT segment. */
export const b64json = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

/** A compact JWT: RS256 signed with `key`, or alg `none` with an empty signature. */
export function mintJwt(claims: Record<string, unknown>, key: crypto.KeyObject, alg: 'RS256' | 'none' = 'RS256'): string {
  const input = `${b64json({ alg, typ: 'JWT' })}.${b64json(claims)}`;
  const sig = alg === 'none' ? Buffer.alloc(0) : crypto.sign('sha256', Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}
