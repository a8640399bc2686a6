import { parseConfig } from '../../../src/config/config';
import { localTiers } from '../../../src/sources/local/tiers';

describe('throttling tiers without API Manager', () => {
  test('none configured: APIM\'s default tiers, so projects naming them are limited', () => {
    const tiers = localTiers(parseConfig('', 'config.toml'));
    const byName = Object.fromEntries(tiers.map((t) => [`${t.kind}:${t.name}`, t.defaultLimit?.limit]));
    expect(byName).toMatchObject({ 'api:10KPerMin': 10_000, 'subscription:Gold': 5000, 'subscription:Bronze': 1000, 'application:10PerMin': 10 });
    expect(tiers.every((t) => t.defaultLimit?.unitTimeMs === 60_000 && t.organization === 'carbon.super')).toBe(true);
  });

  test('[[throttling.policies]] replace them: units, burst for subscriptions, stop on quota reach', () => {
    const cfg = parseConfig(
      `[[throttling.policies]]\nkind = "subscription"\nname = "Partner"\nrequests = 100\nunitTime = 2\ntimeUnit = "hour"\nburstRequests = 5\nstopOnQuotaReach = false\n` +
        `[[throttling.policies]]\nkind = "api"\nname = "Tiny"\nrequests = 3\ntimeUnit = "sec"\n`,
      'config.toml',
    );
    expect(localTiers(cfg)).toEqual([
      { kind: 'subscription', name: 'Partner', organization: 'carbon.super', defaultLimit: { quotaType: 'requestCount', limit: 100, unitTimeMs: 7_200_000 }, burst: { limit: 5, unitTimeMs: 1000 }, stopOnQuotaReach: false },
      { kind: 'api', name: 'Tiny', organization: 'carbon.super', defaultLimit: { quotaType: 'requestCount', limit: 3, unitTimeMs: 1000 }, stopOnQuotaReach: true },
    ]);
  });

  test('a tier without a name or a request count, or named twice, is refused as the file is read, naming the file', () => {
    const tiers = (body: string) => () => parseConfig(body, 'config.toml');
    expect(() => parseConfig('[[throttling.policies]]\nrequests = 5\n', '/etc/apim-connect/gateway.toml')).toThrow('/etc/apim-connect/gateway.toml: throttling.policies[0].name: required');
    expect(tiers('[[throttling.policies]]\nrequests = 5\n')).toThrow('config.toml: throttling.policies[0].name: required');
    expect(tiers('[[throttling.policies]]\nname = "A"\n')).toThrow('config.toml: throttling.policies[0].requests: required (at least 1)');
    expect(tiers('[[throttling.policies]]\nname = "A"\nrequests = 1\n[[throttling.policies]]\nname = "A"\nrequests = 2\n')).toThrow('config.toml: throttling.policies[1]: a second subscription policy named "A"');
    expect(tiers('[[throttling.policies]]\nname = "A"\nrequests = 1\ntimeUnit = "week"\n')).toThrow(/timeUnit: expected one of sec, min, hour, day/);
  });
});
