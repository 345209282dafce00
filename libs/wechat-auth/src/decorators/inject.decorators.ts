import { Inject } from '@nestjs/common';
import { WechatApiClient } from '../api/wechat-api.client.js';
import { CodeExchangeService } from '../code-exchange/code-exchange.service.js';
import { WECHAT_AUTH_OPTIONS } from '../wechat-auth.constants.js';

/** Injects the validated module options (`ResolvedWechatAuthOptions`: defaults applied, no secrets). */
export const InjectWechatAuthOptions = (): PropertyDecorator & ParameterDecorator => Inject(WECHAT_AUTH_OPTIONS);

/** Injects the module's `WechatApiClient` (refresh or check tokens, read profiles). */
export const InjectWechatApiClient = (): PropertyDecorator & ParameterDecorator => Inject(WechatApiClient);

/** Injects the module's `CodeExchangeService` (health, stats, events). */
export const InjectCodeExchangeService = (): PropertyDecorator & ParameterDecorator => Inject(CodeExchangeService);
