import { client, type Api } from '../http';
import { platformSettings } from './defences';
import { jobs, type Jobs } from './jobs';
import { packageAttacks } from './package-attacks';
import type { AttackedPlatform } from './platform';
import { requestAttacks } from './request-attacks';

/** What the attacks share on one platform, filled in by the suite's beforeAll. */
export interface AttackState {
  platform: AttackedPlatform;
  api: Api;
  /** The first administrator's token. */
  token: string;
  jobs: Jobs;
}

/**
 * The attack suite on one platform (e2e/attacks/README.md): requests first, then packages, the
 * attacks that may take the runner down last. `IM_ATTACKS_DEFENCES_OFF` switches defences off.
 */
export function attackSuite(
  name: 'standalone' | 'distributed',
  start: (env: Record<string, string>) => Promise<AttackedPlatform>,
): void {
  const settings = platformSettings(process.env.IM_ATTACKS_DEFENCES_OFF);
  const off = settings.off.length > 0 ? ` with ${settings.off.join(', ')} off` : '';
  describe(`attacks on ${name}${off}`, () => {
    const s = {} as AttackState;
    beforeAll(async () => {
      s.platform = await start(settings.env);
      s.api = client(s.platform.url);
      const r = await s.api('POST', '/api/login', {
        json: { username: 'admin', password: s.platform.adminPassword },
      });
      expect(r.status).toBe(200);
      s.token = r.json.access_token;
      s.jobs = jobs(s.api, s.token);
    }, 120_000);
    afterAll(async () => {
      await s.platform?.stop();
    }, 60_000);

    describe('requests', () => requestAttacks(s, name));
    describe('packages', () => packageAttacks(s));
  });
}
