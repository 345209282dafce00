export { WechatEmulator } from './wechat-emulator.js';
export { DEMO_APP, DEMO_WEB_APP, DEMO_USERS, avatarFor } from './demo-data.js';
export { AUTHORIZE_PARAMETER_ORDER, QRCONNECT_PARAMETER_ORDER } from './authorize-request.js';
export type {
  EmulatorUser,
  EmulatorApp,
  EmulatorAppKind,
  EmulatorEndpoint,
  EmulatorFault,
  InjectFaultOptions,
  EmulatorLatency,
  DuplicateCallbackSettings,
  EmulatorExchangeOutcome,
  EmulatorCodeCounter,
  EmulatorCounters,
  WechatEmulatorOptions,
  MintCodeParams,
} from './wechat-emulator.types.js';
