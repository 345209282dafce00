/** Injection token of the in-process `WechatEmulator` (demo mode), or null outside demo mode. */
export const DEMO_EMULATOR = Symbol('DEMO_EMULATOR');
