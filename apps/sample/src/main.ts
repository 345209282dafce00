import 'reflect-metadata';
import { startSampleApp } from './bootstrap.js';
import { SampleConfigError } from './config/sample-config.js';

/**
 * `npm run start:prod` / `npm start`: starts the sample app from the environment (see the README's table).
 * Exits with status 1 and one readable message when the settings are wrong.
 */
async function main(): Promise<void> {
  try {
    const sample = await startSampleApp();
    // SIGTERM (docker stop, Kubernetes) and SIGINT (Ctrl-C): drain in-flight requests, close Redis, exit.
    sample.app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
  } catch (error) {
    if (error instanceof SampleConfigError || (error instanceof Error && error.name === 'WechatAuthOptionsError')) {
      console.error(`\n${error.message}\n\nSee the README's "Configuration" table.`);
    } else {
      console.error(error);
    }
    process.exitCode = 1;
  }
}

await main();
