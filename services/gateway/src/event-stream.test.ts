import express from 'express';
import request from 'supertest';
import { eventStreamAuth } from './event-stream';

/** What the next handler sees after the middleware. */
function app() {
  const a = express();
  a.use(eventStreamAuth());
  a.use((req, res) => {
    res.json({
      authorization: req.headers.authorization ?? null,
      url: req.url,
      originalUrl: req.originalUrl,
    });
  });
  return a;
}

describe('eventStreamAuth', () => {
  it('moves ?access_token= into the Authorization header on GET /api/jobs/events and drops it from the URL', async () => {
    const r = await request(app()).get('/api/jobs/events?access_token=abc.def.ghi&maxSeconds=5');
    expect(r.body).toEqual({
      authorization: 'Bearer abc.def.ghi',
      url: '/api/jobs/events?maxSeconds=5',
      originalUrl: '/api/jobs/events?maxSeconds=5',
    });
  });

  it('keeps an Authorization header that is already there', async () => {
    const r = await request(app())
      .get('/api/jobs/events?access_token=query-token')
      .set('authorization', 'Bearer header-token');
    expect(r.body).toMatchObject({ authorization: 'Bearer header-token', url: '/api/jobs/events' });
  });

  it('takes no token from the query on any other route', async () => {
    const r = await request(app()).get('/api/jobs?access_token=abc');
    expect(r.body).toEqual({
      authorization: null,
      url: '/api/jobs?access_token=abc',
      originalUrl: '/api/jobs?access_token=abc',
    });
  });
});
