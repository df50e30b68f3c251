import { AsyncLocalStorage } from 'node:async_hooks';

/** What follows a request through async calls: its id, forwarded on internal calls and logged. */
export interface RequestScope {
  requestId: string;
}

export const requestScope = new AsyncLocalStorage<RequestScope>();

export function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}
