import { waitFor } from './wait-for';

describe('waitFor', () => {
  it('resolves at once with the first value when the probe already has one', async () => {
    const probe = jest.fn(() => 'ready');
    await expect(waitFor(probe)).resolves.toBe('ready');
    expect(probe).toHaveBeenCalledTimes(1);
  });

  it('polls until the probe returns something other than undefined', async () => {
    const values = [undefined, undefined, 'third', 'fourth'];
    const probe = jest.fn(async () => values.shift());
    await expect(waitFor(probe, { intervalMs: 1, timeoutMs: 5_000 })).resolves.toBe('third');
    expect(probe).toHaveBeenCalledTimes(3);
  });

  it.each([
    ['0', 0],
    ['false', false],
    ['null', null],
    ['an empty string', ''],
  ])('counts %s as a value', async (_label, value) => {
    const values: unknown[] = [undefined, value];
    await expect(waitFor(() => values.shift(), { intervalMs: 1, timeoutMs: 5_000 })).resolves.toBe(value);
  });

  it('retries past a probe that throws or rejects', async () => {
    let calls = 0;
    const probe = async () => {
      calls++;
      if (calls === 1) throw new Error('not yet');
      if (calls === 2) return Promise.reject(new Error('still not'));
      return { id: 7 };
    };
    await expect(waitFor(probe, { intervalMs: 1, timeoutMs: 5_000 })).resolves.toEqual({ id: 7 });
    expect(calls).toBe(3);
  });

  it('rejects after its timeout naming what it waited for and the last error', async () => {
    let calls = 0;
    const started = Date.now();
    const attempt = waitFor(
      () => {
        calls++;
        throw new Error(`connection refused #${calls}`);
      },
      { timeoutMs: 100, intervalMs: 10, what: 'the gateway to be ready' },
    );
    await expect(attempt).rejects.toThrow(
      /^Timed out after 100 ms waiting for the gateway to be ready: connection refused #\d+$/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(calls).toBeGreaterThan(1);
    // The message carries the last error, not the first.
    await attempt.catch((err: Error) => expect(err.message).toContain(`#${calls}`));
  });

  it('rejects after its timeout with a generic name when `what` is not given', async () => {
    await expect(waitFor(() => undefined, { timeoutMs: 100, intervalMs: 10 })).rejects.toThrow(
      'Timed out after 100 ms waiting for a condition',
    );
  });
});
