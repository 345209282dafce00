import { describe, expect, it } from '@jest/globals';
import { parseCliArgs } from './cli-args.js';
import { DEMO_APP } from './demo-data.js';

describe('parseCliArgs', () => {
  it('defaults to 127.0.0.1:4000 and the demo app', () => {
    expect(parseCliArgs([], {})).toEqual({
      port: 4000,
      host: '127.0.0.1',
      appId: DEMO_APP.appId,
      appSecret: DEMO_APP.appSecret,
      help: false,
    });
  });

  it('reads flags (both forms) over environment variables', () => {
    const env = { WECHAT_EMULATOR_PORT: '5000', WECHAT_EMULATOR_HOST: '0.0.0.0', WECHAT_EMULATOR_APP_ID: 'wxenv', WECHAT_EMULATOR_APP_SECRET: 'envSecret' };
    expect(parseCliArgs([], env)).toMatchObject({ port: 5000, host: '0.0.0.0', appId: 'wxenv', appSecret: 'envSecret' });
    expect(parseCliArgs(['--port', '0', '--host=::1', '--app-id', 'wxflag', '--app-secret=flagSecret'], env)).toMatchObject({
      port: 0,
      host: '::1',
      appId: 'wxflag',
      appSecret: 'flagSecret',
    });
  });

  it.each([
    [['--port', 'abc']],
    [['--port', '70000']],
    [['--port', '-1']],
    [['--port']],
    [['--bogus']],
    [['--app-id', 'has space']],
    [['--app-secret=']],
  ])('rejects %j', (argv) => {
    expect(() => parseCliArgs(argv, {})).toThrow(TypeError);
  });

  it('understands --help', () => {
    expect(parseCliArgs(['--help'], {}).help).toBe(true);
  });
});
