import type {
  ChangePasswordRequest,
  CreateUserRequest,
  Principal,
  Role,
  TokenResponse,
  UpdateUserRequest,
  UserChanged,
} from '@im/contracts';
import { DEFAULT_ACCOUNT_ID } from '@im/contracts';
import {
  AppError,
  ConflictError,
  ForbiddenError,
  InputError,
  NotFoundError,
  UnauthenticatedError,
  UnavailableError,
} from '@im/errors';
import type { PageRequest, PageResult } from '@im/db';
import type { Logger } from '@im/logging';
import { createHash, randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { JWT_AUDIENCE, JWT_ISSUER, type UserState } from '@im/http-kit';
import {
  DEFAULT_LOGIN_DELAY,
  failedLoginDelayMs,
  FailedLoginCounter,
  type IpThrottleSettings,
  type LoginDelaySettings,
} from './login-throttle';
import { generatePassword, hashPassword, needsRehash, verifyPassword } from './password';
import { assertPasswordPolicy } from './password-policy';
import { SigningKeys } from './signing-keys';
import type { UserRecord, UserRepository } from './user.repository';

export interface AuthSettings {
  /** PEM of the private key that signs access tokens: RSA (RS256) or EC P-256 (ES256). */
  jwtPrivateKey: string;
  /** PEMs of other public keys the JWKS lists during a key rotation (the previous key, or the next). */
  jwtPreviousPublicKeys?: string[];
  accessTokenTtlSeconds: number;
  refreshTokenTtlSeconds: number;
  /**
   * Failed logins for one user from one client address within `lockoutSeconds` before that user is
   * refused from that address for `lockoutSeconds` (from other addresses it still logs in).
   */
  maxFailedLogins: number;
  lockoutSeconds: number;
  /** The growing wait before each login of a user name with recent failures (default 250 ms doubling to 4 s). */
  loginDelay?: LoginDelaySettings;
  /** Failed logins per client address before that address is refused for a while (default 20 in 15 min, 15 min). */
  ipThrottle?: IpThrottleSettings;
}

/** Failed logins per client address: 20 within 15 minutes lock the address out for 15 minutes. */
export const DEFAULT_IP_THROTTLE: IpThrottleSettings = {
  maxFailures: 20,
  windowSeconds: 900,
  lockoutSeconds: 900,
};

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** 429 for a client address with too many failed logins; Retry-After says when to try again. */
export class LoginThrottledError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super(
      'RATE_LIMITED',
      `Too many failed logins from this address; try again in ${retryAfterSeconds} s (see the Retry-After header).`,
    );
  }
}

function badCredentials(): AppError {
  return new AppError(
    'BAD_CREDENTIALS',
    'The user name or password is wrong, or the account is inactive or locked. Check them and try again.',
  );
}

/** What each role may do, least first: a role includes every role below it (an admin is a user too). */
const ROLE_RANK: Record<Role, number> = { user: 0, admin: 1 };

/**
 * Nobody grants a role they do not hold (403): `roles` may contain roles the actor holds (or that are
 * below one they hold) and roles the user has already (`kept`), so a change never hands out more than
 * the actor has. The roles checked are the actor's current ones (applyUserState), not the token's.
 */
function assertGrantable(actor: Principal, roles: readonly Role[], kept: readonly Role[] = []): void {
  const top = Math.max(-1, ...actor.roles.map((r) => ROLE_RANK[r]));
  const foreign = roles.filter((r) => ROLE_RANK[r] > top && !kept.includes(r));
  if (foreign.length > 0)
    throw new ForbiddenError(
      `You cannot grant a role you do not hold yourself (${foreign.join(', ')}); ask an administrator who holds it.`,
    );
}

/** Publishes `user.changes` (the auth service's only event); absent where nothing consumes it. */
export type UserChangePublisher = (e: UserChanged) => Promise<void>;

export class AuthService {
  /** An argon2id hash to verify against when the user does not exist, so both answers take the same time. */
  private dummyHash: Promise<string> | undefined;
  /** The signing key and the JWKS (GET /api/.well-known/jwks.json). */
  readonly keys: SigningKeys;
  private readonly ipThrottle: FailedLoginCounter;
  /** Failures per user name and client address: that pair is locked out, not the user everywhere. */
  private readonly pairThrottle: FailedLoginCounter;
  /** Recent failures per user name (known or not): each login of the name waits longer. */
  private readonly nameFailures: FailedLoginCounter;
  private readonly loginDelay: LoginDelaySettings;

  constructor(
    private readonly users: UserRepository,
    private readonly settings: AuthSettings,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    private readonly publishUserChange?: UserChangePublisher,
  ) {
    this.keys = new SigningKeys(settings.jwtPrivateKey, settings.jwtPreviousPublicKeys ?? []);
    this.ipThrottle = new FailedLoginCounter(settings.ipThrottle ?? DEFAULT_IP_THROTTLE, now);
    const perUser = { windowSeconds: settings.lockoutSeconds, lockoutSeconds: settings.lockoutSeconds };
    this.pairThrottle = new FailedLoginCounter({ ...perUser, maxFailures: settings.maxFailedLogins }, now);
    this.nameFailures = new FailedLoginCounter({ ...perUser, maxFailures: Infinity }, now);
    this.loginDelay = settings.loginDelay ?? DEFAULT_LOGIN_DELAY;
  }

  /**
   * Creates the first administrator when there are no users. The password comes from the caller (an
   * operator's env var) or is generated; it is returned so the composition root can print it once.
   */
  async bootstrapAdmin(
    password: string | undefined,
  ): Promise<{ created: boolean; generatedPassword?: string }> {
    if ((await this.users.count()) > 0) return { created: false };
    const generated = password ? undefined : generatePassword();
    const user = await this.users.insert(
      {
        name: 'admin',
        passwordHash: await hashPassword(password ?? (generated as string)),
        email: null,
        fullName: 'Administrator',
        active: true,
        roles: ['admin'],
        accountId: DEFAULT_ACCOUNT_ID,
      },
      this.now(),
    );
    if (!user) return { created: false };
    this.logger.info({ userId: user.id }, 'created the first administrator "admin"');
    return generated ? { created: true, generatedPassword: generated } : { created: true };
  }

  /**
   * Logs a user in. `clientIp` is throttled on failed logins (429 with Retry-After while locked out).
   * Failures for a user name lock that name out from that address only (the user still logs in from
   * their own), and make every login of the name wait longer (doubling, bounded), so guessing one
   * user's password from many addresses slows down. An unknown user, a wrong password, an inactive
   * and a locked-out user all get the same 401, after the same wait and one argon2id verification
   * each, so neither the answer nor its time says whether the user exists.
   */
  async login(username: string, password: string, clientIp = 'unknown'): Promise<TokenResponse> {
    const retryAfter = this.ipThrottle.retryAfterSeconds(clientIp);
    if (retryAfter > 0) throw new LoginThrottledError(retryAfter);
    const nameKey = username.toLowerCase();
    const pairKey = `${clientIp} ${nameKey}`;
    const wait = failedLoginDelayMs(this.nameFailures.failures(nameKey), this.loginDelay);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const user = await this.users.findByName(username);
    let ok = false;
    if (user) ok = await verifyPassword(password, user.passwordHash);
    else {
      this.dummyHash ??= hashPassword(generatePassword());
      await verifyPassword(password, await this.dummyHash);
    }
    if (!ok) {
      this.ipThrottle.recordFailure(clientIp);
      this.pairThrottle.recordFailure(pairKey);
      this.nameFailures.recordFailure(nameKey);
      if (user) this.logger.warn({ userId: user.id }, 'login refused: wrong password');
      throw badCredentials();
    }
    if (this.pairThrottle.retryAfterSeconds(pairKey) > 0) {
      this.logger.warn({ userId: user?.id }, 'login refused: locked out from this address');
      this.ipThrottle.recordFailure(clientIp);
      throw badCredentials();
    }
    if (!user || !user.active) throw badCredentials();
    this.pairThrottle.clear(pairKey);
    this.nameFailures.clear(nameKey);
    // A hash from before argon2id (scrypt) or with older parameters is replaced while the password is at hand.
    const now = this.now();
    if (needsRehash(user.passwordHash))
      await this.users.update(user.id, { passwordHash: await hashPassword(password) }, now);
    // Each login starts a refresh-token family.
    return this.issueTokens(user, randomBytes(16).toString('base64url'));
  }

  /**
   * Rotates a refresh token: the presented one is marked used and the next of its family issued. A
   * token presented after it was used revokes its whole family (the thief's and the owner's copies).
   */
  async refresh(refreshToken: string): Promise<TokenResponse> {
    const outcome = await this.users.refreshTokens().use(sha256(refreshToken), this.now());
    if (outcome.kind === 'reused')
      this.logger.warn({ userId: outcome.userId }, 'refresh token reused: revoked its whole family');
    const user = outcome.kind === 'rotated' ? await this.users.findById(outcome.userId) : undefined;
    if (outcome.kind !== 'rotated' || !user || !user.active) {
      throw new UnauthenticatedError(
        'The refresh token is unknown, used or expired; log in again with POST /api/login.',
      );
    }
    return this.issueTokens(user, outcome.familyId);
  }

  /** Revokes every refresh token (every family) of the caller; access tokens run out at their `exp`. */
  async logout(userId: string): Promise<void> {
    await this.users.refreshTokens().revokeAllOf(userId, this.now());
  }

  private async issueTokens(user: UserRecord, familyId: string): Promise<TokenResponse> {
    const accessToken = jwt.sign(
      { name: user.name, roles: user.roles, acc: user.accountId },
      this.keys.privateKey,
      {
        algorithm: this.keys.algorithm,
        keyid: this.keys.kid,
        subject: user.id,
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        expiresIn: this.settings.accessTokenTtlSeconds,
        notBefore: 0,
        jwtid: randomBytes(12).toString('base64url'),
      },
    );
    const refreshToken = randomBytes(32).toString('base64url');
    const now = this.now();
    await this.users
      .refreshTokens()
      .insert(
        user.id,
        familyId,
        sha256(refreshToken),
        now + this.settings.refreshTokenTtlSeconds * 1000,
        now,
      );
    return {
      access_token: accessToken,
      token_type: 'bearer',
      refresh_token: refreshToken,
      expires_in: this.settings.accessTokenTtlSeconds,
    };
  }

  async get(id: string): Promise<UserRecord> {
    const user = await this.users.findById(id);
    if (!user) throw new NotFoundError(`There is no user ${id}.`);
    return user;
  }

  /**
   * A user as `actor` may see it: an administrator sees the users of their own account, anyone else
   * only themselves. Users of other accounts do not exist for anybody (404, never 403).
   */
  async getFor(actor: Principal, id: string): Promise<UserRecord> {
    const user = await this.users.findById(id);
    const visible =
      user !== undefined &&
      user.accountId === actor.accountId &&
      (user.id === actor.id || actor.roles.includes('admin'));
    if (!visible) throw new NotFoundError(`There is no user ${id}. List the users with GET /api/users.`);
    return user;
  }

  /**
   * The user as they are now, read on every request: a token's roles are narrowed to these and a gone
   * or deactivated user's still-valid access tokens are refused (applyUserState).
   */
  async currentState(id: string): Promise<UserState> {
    const user = await this.users.findById(id);
    return user
      ? { active: user.active, roles: user.roles, accountId: user.accountId }
      : { active: false, roles: [], accountId: '' };
  }

  /** The users of the actor's account. */
  list(actor: Principal, req: PageRequest): Promise<PageResult<UserRecord>> {
    return this.users.page(actor.accountId, req);
  }

  /** A new user, always in the actor's account. */
  async create(actor: Principal, input: CreateUserRequest): Promise<UserRecord> {
    assertGrantable(actor, input.roles);
    assertPasswordPolicy(input.password, input.name, 'password');
    const passwordHash = await hashPassword(input.password);
    return this.inTransaction(async (users) => {
      const user = await users.insert(
        {
          name: input.name,
          passwordHash,
          email: input.email ?? null,
          fullName: input.fullName ?? null,
          active: input.active,
          roles: input.roles,
          accountId: actor.accountId,
        },
        this.now(),
      );
      if (!user)
        throw new ConflictError(
          `A user named "${input.name}" exists already; choose another name.`,
          'USERNAME_TAKEN',
        );
      await this.announce(user, 'created', actor);
      return user;
    });
  }

  async update(actor: Principal, id: string, input: UpdateUserRequest): Promise<UserRecord> {
    const target = await this.getFor(actor, id);
    if (input.roles) assertGrantable(actor, input.roles, target.roles);
    const ownRolesChange =
      input.roles !== undefined &&
      (input.roles.length !== target.roles.length || input.roles.some((r) => !target.roles.includes(r)));
    if (actor.id === id && (input.active === false || ownRolesChange)) {
      throw new InputError(
        'You cannot deactivate yourself or change your own roles; ask another administrator.',
        [
          {
            path: input.active === false ? 'active' : 'roles',
            message: 'cannot be changed on your own account',
          },
        ],
      );
    }
    return this.inTransaction(async (users) => {
      const updated = (await users.update(id, input, this.now())) as UserRecord;
      if (input.active === false) await users.revokeRefreshTokens(id, this.now());
      await this.announce(updated, 'updated', actor);
      return updated;
    });
  }

  /**
   * A change and its `user.changes` record commit together: when the record cannot be published the
   * change is rolled back and the caller told to try again (a deactivation must reach the services
   * that stop the user's jobs).
   */
  private inTransaction<T>(fn: (users: UserRepository) => Promise<T>): Promise<T> {
    return this.users.transaction(fn);
  }

  private async announce(user: UserRecord, change: 'created' | 'updated', actor: Principal): Promise<void> {
    if (!this.publishUserChange) return;
    try {
      await this.publishUserChange({
        userId: user.id,
        accountId: user.accountId,
        name: user.name,
        active: user.active,
        roles: user.roles,
        change,
        changedBy: { id: actor.id, name: actor.name },
        occurredAt: new Date(this.now()).toISOString(),
      });
    } catch (err) {
      this.logger.error({ err, userId: user.id }, 'could not publish the user change; rolled it back');
      throw new UnavailableError(
        'The change could not be announced to the other services; try again shortly.',
        err,
      );
    }
  }

  async changePassword(actor: Principal, id: string, input: ChangePasswordRequest): Promise<void> {
    const self = actor.id === id;
    if (!self && !actor.roles.includes('admin'))
      throw new ForbiddenError("Only administrators may change another user's password.");
    const user = await this.getFor(actor, id);
    assertPasswordPolicy(input.newPassword, user.name, 'newPassword');
    if (self) {
      if (!input.currentPassword || !(await verifyPassword(input.currentPassword, user.passwordHash))) {
        throw new InputError('The current password is wrong.', [
          { path: 'currentPassword', message: 'does not match' },
        ]);
      }
    }
    await this.users.update(
      id,
      { passwordHash: await hashPassword(input.newPassword), failedLogins: 0, lockedUntil: null },
      this.now(),
    );
    await this.users.revokeRefreshTokens(id, this.now());
  }
}
