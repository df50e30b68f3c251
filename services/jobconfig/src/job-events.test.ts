import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { routeHarness, type RouteHarness } from './routes.test-support';

interface Stream {
  events: { event: string; data: any }[];
  ended: Promise<void>;
  req: http.ClientRequest;
  /** Resolves with the first event that passes the check. */
  next(check: (e: { event: string; data: any }) => boolean): Promise<{ event: string; data: any }>;
}

function open(url: string, user: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const events: Stream['events'] = [];
    const waiters: { check: (e: Stream['events'][number]) => boolean; resolve: (e: any) => void }[] = [];
    let ended!: () => void;
    const endedP = new Promise<void>((r) => (ended = r));
    const req = http.get(url, { headers: { 'x-test-user': user } }, (res) => {
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (!event || !data) continue;
          const e = { event, data: JSON.parse(data) };
          events.push(e);
          for (const w of [...waiters])
            if (w.check(e)) {
              waiters.splice(waiters.indexOf(w), 1);
              w.resolve(e);
            }
        }
      });
      res.on('end', ended);
      res.on('close', ended);
      resolve({
        events,
        ended: endedP,
        req,
        next: (check) =>
          new Promise((r) => {
            const found = events.find(check);
            if (found) r(found);
            else waiters.push({ check, resolve: r });
          }),
      });
    });
    req.on('error', reject);
  });
}

describe('GET /api/jobs/events', () => {
  let h: RouteHarness;
  let server: http.Server;
  let base: string;
  let configId: string;

  beforeAll(async () => {
    h = await routeHarness();
    server = http.createServer(h.app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const c = await request(h.app)
      .post('/api/jobconfigs')
      .set('x-test-user', 'alice')
      .send({ name: 'events', active: true });
    expect(c.status).toBe(201);
    configId = c.body.id;
    const u = await request(h.app)
      .patch(`/api/jobconfigs/${configId}`)
      .set('x-test-user', 'alice')
      .send({ runtimeConfig: { packageName: 'p.djar', entryPoint: 'main.process' } });
    expect(u.body).toMatchObject({ runtimeConfig: { entryPoint: 'main.process' } });
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await h.close();
  });

  it("sends the caller's jobs, then each status change; another user sees none of them", async () => {
    const run = await request(h.app).post(`/api/jobconfigs/${configId}/jobs`).set('x-test-user', 'alice');
    expect(run.status).toBe(202);
    const jobId: string = run.body.id;

    const alice = await open(`${base}/api/jobs/events?maxSeconds=30`, 'alice');
    const bob = await open(`${base}/api/jobs/events?maxSeconds=2`, 'bob');
    const queued = await alice.next((e) => e.data.id === jobId);
    expect(queued).toMatchObject({
      event: 'job',
      data: { id: jobId, status: 'QUEUED', href: expect.any(String) },
    });

    await request(h.app).delete(`/api/jobs/${jobId}`).set('x-test-user', 'alice').expect(202);
    await alice.next((e) => e.data.id === jobId && e.data.status === 'CANCELLED');
    alice.req.destroy();

    await bob.ended; // maxSeconds ends the stream
    expect(bob.events.filter((e) => e.data.id === jobId)).toEqual([]);
  });

  it('refuses bad query parameters with a problem, before streaming', async () => {
    const r = await request(h.app).get('/api/jobs/events?maxSeconds=0').set('x-test-user', 'alice');
    expect(r.status).toBe(400);
    expect(r.body.code).toBe('VALIDATION_FAILED');
  });

  it('stops reading when the client goes away', async () => {
    const list = jest.spyOn(h.mod.jobs, 'list');
    const s = await open(`${base}/api/jobs/events`, 'alice');
    await s.next(() => true);
    s.req.destroy();
    await s.ended;
    // Give the stream one poll interval to notice, then no further reads happen.
    const calls = await new Promise<number>((r) => setTimeout(() => r(list.mock.calls.length), 1200));
    const later = await new Promise<number>((r) => setTimeout(() => r(list.mock.calls.length), 1200));
    expect(later).toBe(calls);
    list.mockRestore();
  });

  it('ends open streams when the server stops listening (shutdown)', async () => {
    const other = http.createServer(h.app);
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const s = await open(
      `http://127.0.0.1:${(other.address() as AddressInfo).port}/api/jobs/events`,
      'alice',
    );
    await s.next(() => true);
    // server.close() waits for open connections: it completes only because the stream ends itself.
    const closed = new Promise((r) => other.close(r));
    await s.ended;
    other.closeIdleConnections(); // the client's keep-alive socket, idle now
    await closed;
  });
});
