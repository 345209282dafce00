import { DEMO_APP } from './demo-data.js';

/** The standalone emulator's settings, from flags first, then environment variables, then defaults. */
export interface CliSettings {
  port: number;
  host: string;
  appId: string;
  appSecret: string;
  help: boolean;
}

export const CLI_USAGE = `Usage: wechat-emulator [--port 4000] [--host 127.0.0.1] [--app-id ID] [--app-secret SECRET]

A local WeChat web-authorization emulator (authorize page, sns API, control API under /__emulator/).
Environment: WECHAT_EMULATOR_PORT, WECHAT_EMULATOR_HOST, WECHAT_EMULATOR_APP_ID, WECHAT_EMULATOR_APP_SECRET.`;

const FLAGS: Record<string, keyof Omit<CliSettings, 'help'>> = {
  '--port': 'port',
  '--host': 'host',
  '--app-id': 'appId',
  '--app-secret': 'appSecret',
};

/** Parses `argv` (without node and the script) and `env`. Throws a TypeError with a usable message. */
export function parseCliArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): CliSettings {
  const raw: Partial<Record<keyof Omit<CliSettings, 'help'>, string>> = {
    port: env.WECHAT_EMULATOR_PORT,
    host: env.WECHAT_EMULATOR_HOST,
    appId: env.WECHAT_EMULATOR_APP_ID,
    appSecret: env.WECHAT_EMULATOR_APP_SECRET,
  };
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const key = FLAGS[flag];
    if (!key) throw new TypeError(`unknown option ${flag}\n\n${CLI_USAGE}`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    if (value === undefined || value === '') throw new TypeError(`${flag} needs a value`);
    raw[key] = value;
  }
  const port = raw.port === undefined ? 4000 : Number(raw.port);
  if (!/^\d+$/.test(raw.port ?? '4000') || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError('port must be an integer in 0..65535');
  }
  const appId = raw.appId ?? DEMO_APP.appId;
  const appSecret = raw.appSecret ?? DEMO_APP.appSecret;
  if (!/^[\x21-\x7e]{1,64}$/.test(appId)) throw new TypeError('app id must be 1..64 printable ASCII characters');
  if (!/^[\x21-\x7e]{1,128}$/.test(appSecret)) throw new TypeError('app secret must be 1..128 printable ASCII characters');
  return { port, host: raw.host ?? '127.0.0.1', appId, appSecret, help };
}
