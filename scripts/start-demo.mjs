#!/usr/bin/env node
// `npm start`: builds the libraries and the sample app when the build is missing or older than the sources, then
// runs the built app (in demo mode unless WECHAT_APP_ID is set). Plain Node, no shell: works the same on Windows.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'apps', 'sample', 'main.js');

/** What the build reads. Specs are excluded from the build, so editing one must not trigger it. */
const SOURCE_DIRS = ['apps/sample/src', 'libs/wechat-auth/src', 'libs/wechat-emulator/src'];
const SOURCE_FILES = [
  'tsconfig.base.json',
  'nest-cli.json',
  'apps/sample/tsconfig.app.json',
  'libs/wechat-auth/tsconfig.lib.json',
  'libs/wechat-emulator/tsconfig.lib.json',
];
/**
 * What the build writes. `npm run build` builds the libraries first, then `nest build sample`, which empties and
 * rewrites dist/apps/sample: main.js's time is the time of the last complete build.
 */
const REQUIRED_OUTPUTS = ['libs/wechat-auth/dist/index.js', 'libs/wechat-emulator/dist/index.js'];

function* walk(dir) {
  if (!existsSync(dir)) return;
  for (const item of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, item.name);
    if (item.isDirectory()) yield* walk(path);
    else if (item.name.endsWith('.ts') && !item.name.endsWith('.spec.ts')) yield path;
  }
}

/** Why a build is needed, or undefined when the build is up to date. */
function staleReason() {
  for (const output of [relative(root, entry), ...REQUIRED_OUTPUTS]) {
    if (!existsSync(join(root, output))) return `${output} is missing`;
  }
  const builtAt = statSync(entry).mtimeMs;
  const sources = [...SOURCE_DIRS.flatMap((dir) => [...walk(join(root, dir))]), ...SOURCE_FILES.map((f) => join(root, f))];
  for (const source of sources) {
    if (existsSync(source) && statSync(source).mtimeMs > builtAt) return `${relative(root, source)} changed`;
  }
  return undefined;
}

function runBuild() {
  // Under `npm start`, npm_execpath is npm's own CLI script: run it with this Node (no shell, no npm.cmd quirks).
  const npmCli = process.env.npm_execpath;
  const result =
    npmCli && /\.c?js$/.test(npmCli)
      ? spawnSync(process.execPath, [npmCli, 'run', 'build'], { cwd: root, stdio: 'inherit' })
      : spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', 'build'], {
          cwd: root,
          stdio: 'inherit',
          // Windows can only start a .cmd through a shell; the arguments are fixed, nothing is interpolated.
          shell: process.platform === 'win32',
        });
  if (result.error) {
    console.error(`Could not run "npm run build": ${result.error.message}`);
    process.exit(1);
  }
  if (result.status !== 0) {
    console.error('\n"npm run build" failed; fix the errors above and run "npm start" again.');
    process.exit(result.status ?? 1);
  }
}

const reason = staleReason();
if (reason) {
  console.log(`Building the sample app (${reason})…`);
  runBuild();
}
if (!existsSync(entry)) {
  console.error(`The build did not produce ${relative(root, entry)}.`);
  process.exit(1);
}
if (process.env.WECHAT_APP_ID) {
  console.log('WECHAT_APP_ID is set: starting against the configured WeChat Official Account (unset it for demo mode).');
}
// Run the built app in this process: its SIGINT/SIGTERM handling (graceful shutdown) applies directly.
await import(pathToFileURL(entry).href);
