import request from 'supertest';
import type { JobConfigModule } from './app';
import { routeHarness, testUsers as users, type RouteHarness } from './routes.test-support';

describe('schedule routes', () => {
  let h: RouteHarness;
  let app: RouteHarness['app'];
  let mod: JobConfigModule;
  let id: string;

  beforeEach(async () => {
    h = await routeHarness();
    ({ app, mod } = h);
    id = (await mod.configs.create(users.alice, { name: 'alice config' })).id;
  });

  afterEach(() => h.close());

  const base = () => `/api/jobconfigs/${id}/schedule`;
  const berlin = {
    name: 'mornings',
    type: 'cron',
    cronSchedule: '0 0 6 ? * MON-FRI',
    timeZone: 'Europe/Berlin',
  };

  it('PUT creates a schedule, GET returns it, and the configuration shows its next fire time', async () => {
    const before = Date.now();
    const put = await request(app).put(base()).send(berlin).expect(200);
    expect(put.body).toEqual({
      href: `http://im.test/api/jobconfigs/${id}/schedule`,
      name: 'mornings',
      type: 'cron',
      cronSchedule: '0 0 6 ? * MON-FRI',
      intervalFrequency: null,
      nextFireTime: expect.any(String),
      description: null,
      timeZone: 'Europe/Berlin',
      timeZoneDisplayName: 'Central European Time',
      timeZoneOffset: expect.stringMatching(/^\+0[12]:00$/),
      misfirePolicy: 'fire-once',
      resourceId: id,
      resourceType: 'jobconfig',
    });
    const next = new Date(put.body.nextFireTime as string);
    expect(next.getTime()).toBeGreaterThan(before);
    expect(next.getTime() - before).toBeLessThanOrEqual(4 * 86400_000);
    // 06:00 in Berlin is 05:00 or 04:00 UTC, on a weekday.
    expect([4, 5]).toContain(next.getUTCHours());
    expect([1, 2, 3, 4, 5]).toContain(next.getUTCDay());

    expect((await request(app).get(base()).expect(200)).body).toEqual(put.body);
    const config = await request(app).get(`/api/jobconfigs/${id}`).expect(200);
    expect(config.body.nextFireTime).toBe(put.body.nextFireTime);
    expect(config.body.schedule).toBe('cron 0 0 6 ? * MON-FRI Europe/Berlin');
  });

  it('lists configurations with their next fire time, null without a schedule', async () => {
    const other = (await mod.configs.create(users.alice, { name: 'no schedule' })).id;
    await request(app)
      .put(base())
      .send({ type: 'interval', intervalFrequency: 'pt90m', misfirePolicy: 'skip' })
      .expect(200)
      .expect((r) => {
        expect(r.body.intervalFrequency).toBe('PT1H30M');
        expect(r.body.misfirePolicy).toBe('skip');
        expect(r.body.timeZone).toBe('UTC');
      });
    const list = await request(app).get('/api/jobconfigs').expect(200);
    const byId = new Map(
      (list.body.items as { id: string; nextFireTime: string | null; schedule: string | null }[]).map((c) => [
        c.id,
        c,
      ]),
    );
    expect(byId.get(id)?.nextFireTime).toEqual(expect.any(String));
    expect(byId.get(id)?.schedule).toBe('interval PT1H30M');
    expect(byId.get(other)).toMatchObject({ nextFireTime: null, schedule: null });
  });

  it('POST creates (201, Location), a second POST is a 409, PUT replaces', async () => {
    const created = await request(app).post(base()).send(berlin).expect(201);
    expect(created.headers.location).toBe(`http://im.test/api/jobconfigs/${id}/schedule`);
    const again = await request(app)
      .post(base())
      .send({ type: 'interval', intervalFrequency: 'PT5M' })
      .expect(409);
    expect(again.body.code).toBe('CONFLICT');
    expect((await request(app).get(base()).expect(200)).body.type).toBe('cron');

    const replaced = await request(app)
      .put(base())
      .send({ type: 'interval', intervalFrequency: 'PT5M', description: 'often' })
      .expect(200);
    expect(replaced.body).toMatchObject({
      type: 'interval',
      cronSchedule: null,
      intervalFrequency: 'PT5M',
      name: null,
      description: 'often',
    });
  });

  it('DELETE removes the schedule (204); then GET and DELETE are 404 and the configuration has none', async () => {
    await request(app).get(base()).expect(404);
    await request(app).put(base()).send(berlin).expect(200);
    await request(app).delete(base()).expect(204);
    const gone = await request(app).get(base()).expect(404);
    expect(gone.headers['content-type']).toMatch(/application\/problem\+json/);
    await request(app).delete(base()).expect(404);
    const config = await request(app).get(`/api/jobconfigs/${id}`).expect(200);
    expect(config.body).toMatchObject({ nextFireTime: null, schedule: null });
  });

  it.each([
    [{ ...berlin, cronSchedule: '*/10 * * * * ?' }, 'cronSchedule', /more than once a minute/],
    [{ ...berlin, cronSchedule: '0 0 25 * * ?' }, 'cronSchedule', /not a valid cron expression/],
    [{ ...berlin, cronSchedule: '0 0 6 * *' }, 'cronSchedule', /6 fields/],
    [{ ...berlin, cronSchedule: '0 0 6 * * ? 2020' }, 'cronSchedule', /never fires/],
    [{ ...berlin, timeZone: 'Europe/Atlantis' }, 'timeZone', /IANA time zone/],
    [{ type: 'interval', intervalFrequency: 'PT59S' }, 'intervalFrequency', /at least one minute/],
    [{ type: 'interval', intervalFrequency: 5 }, 'intervalFrequency', /string/],
    [{ type: 'cron' }, 'cronSchedule', /required/],
    [{ type: 'weekly' }, 'type', /.+/],
  ])('refuses %j with a 400 naming %s, and changes nothing', async (body, path, message) => {
    await request(app).put(base()).send(berlin).expect(200);
    const before = (await request(app).get(base()).expect(200)).body;
    for (const method of ['put', 'post'] as const) {
      const res = await request(app)[method](base()).send(body).expect(400);
      expect(res.headers['content-type']).toMatch(/application\/problem\+json/);
      expect(res.body.errors).toEqual(
        expect.arrayContaining([{ path, message: expect.stringMatching(message) as unknown }]),
      );
    }
    expect((await request(app).get(base()).expect(200)).body).toEqual(before);
  });

  it('follows the configuration: others get 404, an administrator may', async () => {
    await request(app).put(base()).send(berlin).expect(200);
    const asBob = (r: request.Test) => r.set('x-test-user', 'bob').expect(404);
    await asBob(request(app).get(base()));
    await asBob(request(app).put(base()).send(berlin));
    await asBob(request(app).post(base()).send(berlin));
    await asBob(request(app).delete(base()));
    await request(app).get('/api/jobconfigs/999/schedule').expect(404);
    await request(app).get('/api/jobconfigs/abc/schedule').expect(404);
    expect((await request(app).get(base()).set('x-test-user', 'root').expect(200)).body.resourceId).toBe(id);
    expect((await request(app).get(base()).expect(200)).body.name).toBe('mornings');
  });

  it('deleting the configuration deletes its schedule', async () => {
    await request(app).put(base()).send(berlin).expect(200);
    expect(await h.db('schedules').count({ n: '*' }).first()).toEqual({ n: 1 });
    await request(app).delete(`/api/jobconfigs/${id}`).expect(204);
    expect(await h.db('schedules').count({ n: '*' }).first()).toEqual({ n: 0 });
  });
});
