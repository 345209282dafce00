import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { WechatAuthOptions } from './wechat-auth.options.js';

/** Extras of `forRoot()` / `forRootAsync()` that shape the module itself rather than the login. */
export interface WechatAuthModuleExtras {
  /** Register the module globally, so that feature modules can inject its providers without importing it. */
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass: ConfigurableWechatAuthModule,
  /** The raw options as given to forRoot / returned by the async factory (before validation). */
  MODULE_OPTIONS_TOKEN: WECHAT_AUTH_MODULE_OPTIONS,
  OPTIONS_TYPE: WECHAT_AUTH_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: WECHAT_AUTH_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<WechatAuthOptions>({ moduleName: 'WechatAuth' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createWechatAuthOptions')
  .setExtras<WechatAuthModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal === true,
  }))
  .build();

/** What `forRootAsync({ useClass })` / `useExisting` must implement. */
export interface WechatAuthOptionsFactory {
  createWechatAuthOptions(): WechatAuthOptions | Promise<WechatAuthOptions>;
}
