#!/usr/bin/env node
import { CLI_USAGE, parseCliArgs } from './cli-args.js';
import { DEMO_WEB_APP } from './demo-data.js';
import { WechatEmulator } from './wechat-emulator.js';

async function main(): Promise<void> {
  let settings;
  try {
    settings = parseCliArgs(process.argv.slice(2), process.env);
  } catch (error) {
    console.error(`wechat-emulator: ${(error as Error).message}`);
    process.exitCode = 2;
    return;
  }
  if (settings.help) {
    console.log(CLI_USAGE);
    return;
  }
  // The demo website app comes along for the QR login (/connect/qrconnect), unless its AppID was taken.
  const website = settings.appId === DEMO_WEB_APP.appId ? [] : [{ ...DEMO_WEB_APP }];
  const emulator = new WechatEmulator({
    apps: [{ appId: settings.appId, appSecret: settings.appSecret, openPlatformBound: true }, ...website],
  });
  const origin = await emulator.listen(settings.port, settings.host);
  console.log(`WeChat emulator listening on ${origin}`);
  console.log(`  app id:     ${settings.appId}`);
  console.log(`  app secret: ${settings.appSecret}   (emulator credentials, not a real secret)`);
  if (website.length > 0) {
    console.log(`  website app (QR login, flow "website-qr"): ${DEMO_WEB_APP.appId} / ${DEMO_WEB_APP.appSecret}`);
  }
  console.log(`  oauthBaseURL and apiBaseURL: ${origin}`);
  console.log(`  controls:   ${origin}/__emulator/counters`);

  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    console.log(`\n${signal}: closing the WeChat emulator`);
    // A clean close leaves nothing on the event loop, so the process ends by itself; the timer is a safety net.
    setTimeout(() => process.exit(1), 5000).unref();
    emulator.close().catch(() => {
      process.exitCode = 1;
    });
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  console.error(`wechat-emulator: ${(error as Error).message}`);
  process.exit(1);
});
