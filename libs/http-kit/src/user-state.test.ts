import type { Principal } from '@im/contracts';
import express, { type RequestHandler } from 'express';
import request from 'supertest';
import { silentLogger } from '@im/logging';
import { problemHandler } from './problem';
import { applyUserState, currentPrincipal, type UserState } from './user-state';

const admin: Principal = { id: '7', name: 'eve', roles: ['admin'], accountId: '1', token: 't' };
const state = (over: Partial<UserState> = {}): UserState => ({
  active: true,
  roles: ['admin'],
  accountId: '1',
  ...over,
});

describe('currentPrincipal', () => {
  it("narrows the token's roles to the current ones and never adds one", () => {
    expect(currentPrincipal(admin, state({ roles: ['user'] })).roles).toEqual([]);
    expect(currentPrincipal({ ...admin, roles: ['user'] }, state({ roles: ['admin'] })).roles).toEqual([]);
    expect(currentPrincipal(admin, state())).toBe(admin);
    // Not heard of yet: the token's claims are the ceiling.
    expect(currentPrincipal(admin, undefined)).toBe(admin);
  });

  it('refuses a deactivated user, or one the token puts in another account (401)', () => {
    expect(() => currentPrincipal(admin, state({ active: false }))).toThrow(
      expect.objectContaining({ status: 401 }),
    );
    expect(() => currentPrincipal(admin, state({ accountId: '2' }))).toThrow(
      expect.objectContaining({ status: 401 }),
    );
  });
});

describe('applyUserState', () => {
  const shared: Principal = { ...admin };
  const stub: RequestHandler = (req, _res, next) => {
    req.principal = shared;
    next();
  };
  const app = (lookup: (id: string) => Promise<UserState | undefined>) => {
    const a = express();
    a.get('/who', applyUserState(stub, lookup), (req, res) => void res.json(req.principal?.roles));
    a.use(problemHandler(silentLogger()));
    return a;
  };

  it('answers with the current roles and leaves the principal it was given untouched', async () => {
    const r = await request(app(async () => state({ roles: ['user'] }))).get('/who');
    expect(r.body).toEqual([]);
    expect(shared.roles).toEqual(['admin']);
  });

  it('answers 401 problem+json for a deactivated user, and passes a failing lookup on', async () => {
    const off = await request(app(async () => state({ active: false }))).get('/who');
    expect(off.status).toBe(401);
    expect(off.headers['content-type']).toMatch(/problem\+json/);
    const down = await request(app(() => Promise.reject(new Error('db down')))).get('/who');
    expect(down.status).toBe(500);
  });
});
