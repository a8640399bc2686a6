import { bodyText, DecodeError, excerpt, Fields, parseJson } from './decode-json';
import { decodeNotification } from './decode-notification';
import { decodeKeyManager, decodeRevocation, decodeThrottleData } from './decode-topics';
import { ROUTING_KEYS, type DecodeContext, type Decoded, type RoutingKey } from './decode-types';

/**
 * Pure decoders for what APIM sends: AMQP event messages (here) and the Internal Data REST
 * API's responses (decode-rest). No I/O. Bad input never throws anything but a DecodeError.
 * Wire formats: shared/reference/apim-protocol.md sections 2 and 3.3.
 */

export { DecodeError, MAX_MESSAGE_BYTES } from './decode-json';
export { ROUTING_KEYS } from './decode-types';
export type { ApimAction, DecodeContext, Decoded, RefreshPolicies, RoutingKey } from './decode-types';
export * from './decode-rest';

const TOPICS: Record<RoutingKey, (body: Fields, ctx: DecodeContext) => Decoded> = {
  notification: decodeNotification,
  keyManager: decodeKeyManager,
  tokenRevocation: decodeRevocation,
  throttleData: decodeThrottleData,
};

/**
 * Decodes one message from APIM's `amq.topic` exchange. The routing key must be spelt as APIM
 * publishes it (`keyManager`, not Choreo Connect's `keymanager`). Bodies over 1 MiB are refused
 * before they are parsed.
 */
export function decodeMessage(routingKey: string, body: Buffer | string, ctx: DecodeContext): Decoded {
  try {
    if (!(ROUTING_KEYS as readonly string[]).includes(routingKey)) {
      throw new DecodeError(`unknown routing key ${JSON.stringify(routingKey)} (known: ${ROUTING_KEYS.join(', ')})`, excerpt(safeText(body)));
    }
    const text = bodyText(body);
    const root = Fields.of(parseJson(text, `${routingKey} message`), `${routingKey} message`, () => excerpt(text));
    return TOPICS[routingKey as RoutingKey](root, ctx);
  } catch (e) {
    if (e instanceof DecodeError) throw e;
    // A decoder bug must still reach the listener as a DecodeError, so one message cannot stop it.
    throw new DecodeError(`internal decoder error: ${e instanceof Error ? e.message : String(e)}`, excerpt(safeText(body)));
  }
}

function safeText(body: unknown): string | Buffer {
  return typeof body === 'string' || Buffer.isBuffer(body) ? body : String(body);
}
