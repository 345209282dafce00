// Jest 30 in ESM mode (Nest 12 packages are ESM-only): run through `node --experimental-vm-modules`.
const tsJest = [
  'ts-jest',
  { useESM: true, tsconfig: '<rootDir>/tsconfig.json', diagnostics: false },
];

const shared = {
  rootDir: '.',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': tsJest },
  moduleNameMapper: {
    '^nestjs-wechat-auth$': '<rootDir>/libs/wechat-auth/src/index.ts',
    '^nestjs-wechat-auth-emulator$': '<rootDir>/libs/wechat-emulator/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  testTimeout: 30_000,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts'] },
    { ...shared, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
    { ...shared, displayName: 'soak', testMatch: ['<rootDir>/test/**/*.soak-spec.ts'] },
  ],
};
