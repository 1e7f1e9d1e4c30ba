/**
 * `@sluice/openfeature`: an OpenFeature server provider for Sluice's feature
 * flags. Usage:
 *
 * ```ts
 * import { OpenFeature } from '@openfeature/server-sdk';
 * import { SluiceProvider } from '@sluice/openfeature';
 * await OpenFeature.setProviderAndWait(new SluiceProvider({ url: 'http://sluice:3000', apiKey: process.env.SLUICE_APP_KEY }));
 * const on = await OpenFeature.getClient().getBooleanValue('checkout-v2', false, { targetingKey: userId });
 * ```
 */
export { SluiceProvider, type SluiceProviderOptions } from './provider.ts';
export { StreamAuthError } from './stream.ts';
export { SseParser, type SseEvent } from './sse.ts';
