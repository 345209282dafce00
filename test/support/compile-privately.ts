/**
 * Compiling sources with the project's own `tsc` into a private directory, for tests that fork plain-JS processes
 * (Jest compiles TypeScript in memory only, and the repo has no TS loader). The directory lives under the repo's
 * node_modules/.cache/, so the compiled code resolves `@nestjs/common`, `redis` … from the repo's node_modules, and
 * never touches the shared dist/ that other suites may be running from.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './sample-process.js';

/** What to compile: compiler options beyond the defaults, and the sources (`files` and/or `include`, `exclude`). */
export interface PrivateBuild {
  compilerOptions: { rootDir: string; outDir: string } & Record<string, unknown>;
  files?: string[];
  include?: string[];
  exclude?: string[];
}

/** A fresh build directory for one test file: node_modules/.cache/<label>-<pid>. */
export function privateBuildDir(label: string): string {
  return join(REPO_ROOT, 'node_modules', '.cache', `${label}-${process.pid}`);
}

/**
 * Writes `buildDir`/tsconfig.json (tsconfig.base.json plus `build`, without declarations or source maps) and runs
 * tsc on it; fails with tsc's output when it reports errors.
 */
export async function compilePrivately(buildDir: string, build: PrivateBuild): Promise<void> {
  await mkdir(buildDir, { recursive: true });
  const tsconfig = join(buildDir, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      ...build,
      extends: join(REPO_ROOT, 'tsconfig.base.json'),
      compilerOptions: { declaration: false, sourceMap: false, types: ['node'], ...build.compilerOptions },
    }),
  );
  try {
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tsconfig], {
      cwd: REPO_ROOT,
      timeout: 120_000,
    });
  } catch (error) {
    const { stdout = '', stderr = '', message } = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`compiling ${tsconfig} failed: ${message}\n${stdout}${stderr}`);
  }
}
