import { PLATFORM_NODE_OPTIONS, platformNodeOptions } from './node-options';

describe('platformNodeOptions', () => {
  it('gives the platform processes --disable-sigusr1', () => {
    expect(PLATFORM_NODE_OPTIONS).toContain('--disable-sigusr1');
    expect(platformNodeOptions()).toEqual([...PLATFORM_NODE_OPTIONS]);
  });

  it('says what to do on a Node that lacks an option (Node 20 has no --disable-sigusr1)', () => {
    const node20 = new Set([...process.allowedNodeEnvironmentFlags].filter((f) => f !== '--disable-sigusr1'));
    expect(() => platformNodeOptions(node20)).toThrow(
      /has no --disable-sigusr1: the platform runs on Node 24/,
    );
  });
});
