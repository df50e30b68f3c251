import type { Logger } from '@im/logging';
import { SHUTDOWN_PHASES, ShutdownManager } from './index';

function fakeLogger() {
  const logger = { info: jest.fn(), warn: jest.fn(), error: jest.fn(), debug: jest.fn() };
  return { logger, asLogger: logger as unknown as Logger };
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ShutdownManager', () => {
  it('runs the phases in order: stop-readiness, stop-intake, drain, close-clients', async () => {
    const { asLogger } = fakeLogger();
    const m = new ShutdownManager(asLogger, 5_000);
    const seen: string[] = [];
    // Registered out of order, and with async hooks, to show the phase, not the registration, decides.
    m.register('close-clients', 'db', async () => {
      await Promise.resolve();
      seen.push('close-clients');
    });
    m.register('drain', 'jobs', async () => {
      await Promise.resolve();
      seen.push('drain');
    });
    m.register('stop-intake', 'http', () => {
      seen.push('stop-intake');
    });
    m.register('stop-readiness', 'ready', async () => {
      await Promise.resolve();
      await Promise.resolve();
      seen.push('stop-readiness');
    });

    await m.shutdown('test');

    expect(seen).toEqual([...SHUTDOWN_PHASES]);
  });

  it('runs the hooks of one phase together and the next phase only after all of them', async () => {
    const { asLogger } = fakeLogger();
    const m = new ShutdownManager(asLogger, 2_000);
    const seen: string[] = [];
    const gate = deferred();
    m.register('drain', 'a', async () => {
      seen.push('a started');
      await gate.promise; // only b can open it, so a and b must run at the same time
      seen.push('a finished');
    });
    m.register('drain', 'b', async () => {
      seen.push('b started');
      await Promise.resolve();
      gate.resolve();
      seen.push('b finished');
    });
    m.register('close-clients', 'c', () => {
      seen.push('close-clients');
    });

    await m.shutdown('test');

    expect(seen.slice(0, 2)).toEqual(['a started', 'b started']);
    expect(seen).toHaveLength(5);
    expect(seen[4]).toBe('close-clients');
  });

  it('reports shutting down as soon as shutdown is called, before any hook finishes', async () => {
    const { asLogger, logger } = fakeLogger();
    const m = new ShutdownManager(asLogger, 2_000);
    const gate = deferred();
    let seenByHook: boolean | undefined;
    m.register('stop-readiness', 'ready', async () => {
      seenByHook = m.isShuttingDown;
      await gate.promise;
    });

    expect(m.isShuttingDown).toBe(false);
    const done = m.shutdown('SIGTERM');
    expect(m.isShuttingDown).toBe(true);
    expect(logger.info).toHaveBeenCalledWith({ reason: 'SIGTERM' }, 'shutting down');

    gate.resolve();
    await done;
    expect(seenByHook).toBe(true);
    expect(m.isShuttingDown).toBe(true);
  });

  it('logs a failing hook and still runs the other hooks and the later phases', async () => {
    const { asLogger, logger } = fakeLogger();
    const m = new ShutdownManager(asLogger, 2_000);
    const ran: string[] = [];
    const boom = new Error('boom');
    m.register('stop-intake', 'throws', () => {
      throw boom;
    });
    m.register('stop-intake', 'sibling', () => {
      ran.push('sibling');
    });
    m.register('drain', 'rejects', async () => {
      await Promise.resolve();
      throw new Error('drain failed');
    });
    m.register('close-clients', 'db', () => {
      ran.push('close-clients');
    });

    await expect(m.shutdown('test')).resolves.toBeUndefined();

    expect(ran).toEqual(['sibling', 'close-clients']);
    expect(logger.error).toHaveBeenCalledTimes(2);
    expect(logger.error).toHaveBeenCalledWith(
      { err: boom, phase: 'stop-intake', hook: 'throws' },
      'shutdown hook failed',
    );
    expect(logger.error).toHaveBeenCalledWith(
      expect.objectContaining({ phase: 'drain', hook: 'rejects' }),
      'shutdown hook failed',
    );
  });

  it('returns the same promise to a second call and runs every hook once', async () => {
    const { asLogger, logger } = fakeLogger();
    const m = new ShutdownManager(asLogger, 2_000);
    const hooks = SHUTDOWN_PHASES.map((phase) => {
      const fn = jest.fn();
      m.register(phase, phase, fn);
      return fn;
    });

    const first = m.shutdown('SIGTERM');
    const second = m.shutdown('SIGINT');
    expect(second).toBe(first);
    await first;
    const third = m.shutdown('again');
    expect(third).toBe(first);
    await third;

    for (const fn of hooks) expect(fn).toHaveBeenCalledTimes(1);
    expect(logger.info).toHaveBeenCalledTimes(1);
  });

  it('resolves at the deadline when a hook never settles', async () => {
    const { asLogger, logger } = fakeLogger();
    const m = new ShutdownManager(asLogger, 50);
    const stuck = jest.fn(() => new Promise<void>(() => {}));
    m.register('drain', 'stuck', stuck);

    await expect(m.shutdown('test')).resolves.toBeUndefined();

    expect(stuck).toHaveBeenCalledTimes(1);
    expect(logger.warn).toHaveBeenCalledWith(
      { deadlineMs: 50 },
      'shutdown deadline reached; giving up on the rest',
    );
  });

  describe('when every hook finishes in time', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('cancels the deadline, so it never warns later', async () => {
      const { asLogger, logger } = fakeLogger();
      const m = new ShutdownManager(asLogger, 50);
      m.register('drain', 'quick', async () => {});
      await m.shutdown('test');
      expect(jest.getTimerCount()).toBe(0);
      jest.advanceTimersByTime(1_000);
      expect(logger.warn).not.toHaveBeenCalled();
    });
  });

  it('wires SIGTERM to shutdown and then exits with 0', async () => {
    const { asLogger } = fakeLogger();
    const m = new ShutdownManager(asLogger, 2_000);
    const hook = jest.fn();
    m.register('close-clients', 'db', hook);
    const exited = deferred<number>();
    const before = {
      SIGTERM: process.listeners('SIGTERM'),
      SIGINT: process.listeners('SIGINT'),
    };
    m.installSignalHandlers((code) => exited.resolve(code));
    const added = (signal: 'SIGTERM' | 'SIGINT') =>
      process.listeners(signal).filter((l) => !before[signal].includes(l));
    try {
      expect(added('SIGTERM')).toHaveLength(1);
      expect(added('SIGINT')).toHaveLength(1);

      process.emit('SIGTERM', 'SIGTERM');

      await expect(exited.promise).resolves.toBe(0);
      expect(hook).toHaveBeenCalledTimes(1);
      expect(m.isShuttingDown).toBe(true);
    } finally {
      for (const signal of ['SIGTERM', 'SIGINT'] as const)
        for (const l of added(signal)) process.removeListener(signal, l);
    }
  });
});
