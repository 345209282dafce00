#!/usr/bin/env node
// `npm run bench [-- --quick | --tiny ...]`: builds what the benchmark measures, then runs dist/bench/run.js with the
// same arguments (or dist/bench/coordination-cost.js with `--coordination-cost`).
//
// The libraries are rebuilt with `tsc -b --force` unless a stamp proves that both their sources and their dist/ are
// exactly what the last forced build produced. Plain `tsc -b` trusts timestamps, and a dist/ newer than its sources
// but built from other sources (an edit reverted after a build) would silently be what gets measured.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const libs = ['libs/wechat-auth', 'libs/wechat-emulator'];
const stampFile = join(root, 'dist', 'bench', '.libs-build-stamp.json');

/** SHA-256 over the relative paths and contents of every file under `dir` (bounded: these trees are small). */
function hashTree(dir, include) {
  const hash = createHash('sha256');
  const walk = (current) => {
    if (!existsSync(current)) return;
    for (const entry of readdirSync(current).sort()) {
      const path = join(current, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (include(entry)) hash.update(relative(root, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  walk(join(root, dir));
  return hash.digest('hex');
}

function fingerprint() {
  return {
    sources: libs.map((lib) => hashTree(join(lib, 'src'), (name) => name.endsWith('.ts') && !name.endsWith('.spec.ts'))).join(':'),
    configs: hashTree('.', (name) => name === 'tsconfig.base.json') + libs.map((lib) => hashTree(lib, (name) => name === 'tsconfig.lib.json')).join(':'),
    outputs: libs.map((lib) => hashTree(join(lib, 'dist'), (name) => name.endsWith('.js') || name.endsWith('.d.ts'))).join(':'),
  };
}

function run(args) {
  const built = spawnSync(process.execPath, [tsc, ...args], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) {
    console.error(`[bench] build failed: tsc ${args.join(' ')}`);
    process.exit(built.status ?? 1);
  }
}

let stamp;
try {
  stamp = JSON.parse(readFileSync(stampFile, 'utf8'));
} catch {
  stamp = undefined;
}
const now = fingerprint();
if (!stamp || stamp.sources !== now.sources || stamp.configs !== now.configs || stamp.outputs !== now.outputs) {
  run(['-b', '--force', ...libs.map((lib) => `${lib}/tsconfig.lib.json`)]);
  mkdirSync(dirname(stampFile), { recursive: true });
  writeFileSync(stampFile, JSON.stringify(fingerprint()));
}
const benchStampFile = join(root, 'dist', 'bench', '.bench-build-stamp.json');
const benchFingerprint = () => ({
  sources: hashTree('bench/src', (name) => name.endsWith('.ts')) + hashTree('bench', (name) => name === 'tsconfig.json'),
  outputs: hashTree('dist/bench', (name) => name.endsWith('.js')),
  libs: fingerprint().outputs,
});
let benchStamp;
try {
  benchStamp = JSON.parse(readFileSync(benchStampFile, 'utf8'));
} catch {
  benchStamp = undefined;
}
const benchNow = benchFingerprint();
if (!benchStamp || Object.keys(benchNow).some((key) => benchStamp[key] !== benchNow[key])) {
  run(['-p', 'bench/tsconfig.json']);
  writeFileSync(benchStampFile, JSON.stringify(benchFingerprint()));
}

// `--coordination-cost` runs the in-process measurement of the library's CPU per exchange instead of the benchmark.
const costOnly = process.argv.includes('--coordination-cost');
const child = spawn(process.execPath, [...(costOnly ? ['--expose-gc'] : []), join(root, 'dist', 'bench', costOnly ? 'coordination-cost.js' : 'run.js'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
// The terminal's Ctrl-C reaches the whole process group; the runner stops its own children. Just wait for it.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 130 : 1)));
