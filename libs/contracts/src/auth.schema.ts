import { IsoDateTime, listEnvelope, NumericId, ResourceRef } from './common.schema';
import { z } from './zod';

export const LoginRequest = z
  .object({ username: z.string().min(1).max(255), password: z.string().min(1).max(1024) })
  .openapi('LoginRequest');
export type LoginRequest = z.infer<typeof LoginRequest>;

export const RefreshRequest = z
  .object({ refresh_token: z.string().min(1).max(512) })
  .openapi('RefreshRequest');

export const TokenResponse = z
  .object({
    access_token: z.string(),
    token_type: z.literal('bearer'),
    refresh_token: z.string(),
    expires_in: z.number().int().openapi({ description: 'Lifetime of the access token in seconds.' }),
  })
  .openapi('TokenResponse');
export type TokenResponse = z.infer<typeof TokenResponse>;

export const Role = z.enum(['admin', 'user']);
export type Role = z.infer<typeof Role>;

export const Username = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._@-]+$/, 'may hold letters, digits and . _ @ - only');

/** Passwords: long enough to matter, short enough not to be a denial-of-service vector for the hash. */
export const Password = z.string().min(12, 'must be at least 12 characters').max(256);

export const User = z
  .object({
    id: NumericId,
    name: z.string(),
    href: z.string(),
    email: z.string().nullable(),
    fullName: z.string().nullable(),
    active: z.boolean(),
    roles: z.array(Role),
    account: ResourceRef.openapi({ description: 'The account (tenant) the user belongs to.' }),
    created: IsoDateTime,
    lastModified: IsoDateTime,
  })
  .openapi('User');
export type User = z.infer<typeof User>;

export const UserList = listEnvelope(User, 'UserList');

export const CreateUserRequest = z
  .object({
    name: Username,
    password: Password,
    email: z.email().nullable().optional(),
    fullName: z.string().max(255).nullable().optional(),
    active: z.boolean().default(true),
    roles: z.array(Role).min(1).default(['user']),
  })
  .openapi('CreateUserRequest');
export type CreateUserRequest = z.infer<typeof CreateUserRequest>;

export const UpdateUserRequest = z
  .object({
    email: z.email().nullable().optional(),
    fullName: z.string().max(255).nullable().optional(),
    active: z.boolean().optional(),
    roles: z.array(Role).min(1).optional(),
  })
  .openapi('UpdateUserRequest');
export type UpdateUserRequest = z.infer<typeof UpdateUserRequest>;

export const ChangePasswordRequest = z
  .object({
    currentPassword: z
      .string()
      .max(1024)
      .optional()
      .openapi({ description: "Required when changing one's own password." }),
    newPassword: Password,
  })
  .openapi('ChangePasswordRequest');
export type ChangePasswordRequest = z.infer<typeof ChangePasswordRequest>;

/** What an access token asserts about its bearer; every service reads it from the verified JWT. */
export interface Principal {
  id: string;
  name: string;
  roles: Role[];
  /** The account (tenant) the user belongs to (the token's `acc` claim); nothing crosses accounts. */
  accountId: string;
  /** The bearer token the caller presented, forwarded on internal calls made on their behalf. */
  token?: string;
}

/** The account every installation starts with: the first administrator and users from before accounts. */
export const DEFAULT_ACCOUNT_ID = '1';

export const Account = z
  .object({
    id: NumericId,
    name: z.string(),
    href: z.string(),
    created: IsoDateTime,
    lastModified: IsoDateTime,
  })
  .openapi('Account');
export type Account = z.infer<typeof Account>;

export const AccountName = z
  .string()
  .trim()
  .min(1)
  .max(128)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'may not hold control characters');

export const CreateAccountRequest = z
  .object({
    name: AccountName,
    admin: z
      .object({
        name: Username,
        password: Password,
        email: z.email().nullable().optional(),
        fullName: z.string().max(255).nullable().optional(),
      })
      .openapi({ description: "The account's first administrator." }),
  })
  .openapi('CreateAccountRequest');
export type CreateAccountRequest = z.infer<typeof CreateAccountRequest>;

export const CreatedAccount = Account.extend({ admin: User }).openapi('CreatedAccount');
export type CreatedAccount = z.infer<typeof CreatedAccount>;
