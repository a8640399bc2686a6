import { headersOf, type CheckRequestLike } from './check';
import { ipNumber } from './ip-number';

/**
 * What Traffic Manager conditions and key templates read of a request: the client's address,
 * headers (by lower-cased name), query parameters, and the caller's token claims. Each is worked
 * out only when first asked for.
 */
export class RequestFacts {
  private ip?: { v: bigint | undefined };
  private headers?: Record<string, string>;
  private params?: URLSearchParams;

  constructor(
    private readonly req: CheckRequestLike,
    private readonly clientIp: string,
    private readonly claims?: Readonly<Record<string, unknown>>,
  ) {}

  /** The client's address as APIM's integer, if it is one. */
  ipNumber(): bigint | undefined {
    return (this.ip ??= { v: ipNumber(this.clientIp) }).v;
  }

  header(name: string): string | undefined {
    return (this.headers ??= headersOf(this.req.attributes?.request?.http))[name.toLowerCase()];
  }

  query(name: string): string | undefined {
    if (!this.params) {
      const path = this.req.attributes?.request?.http?.path ?? '';
      const q = path.indexOf('?');
      this.params = new URLSearchParams(q < 0 ? '' : path.slice(q + 1));
    }
    return this.params.get(name) ?? undefined;
  }

  claim(name: string): unknown {
    return this.claims?.[name];
  }
}
