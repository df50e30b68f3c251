import type { Principal } from '@im/contracts';

declare module 'express-serve-static-core' {
  interface Request {
    /** Correlates every log line of one request, across services (`X-Request-Id`). */
    requestId?: string;
    /** The authenticated caller, set by `authenticate`. */
    principal?: Principal;
  }
}

export {};
