/**
 * Shared pieces of the website QR-login e2e tests: the phone's part of a QR login at the emulator, done over HTTP
 * the way the QR page and a second tab do it (open the QR page, open its scan link, Allow or Deny, collect).
 */
import { unescapeHtml } from './support/html-text.js';

/** What the QR page shows and how the tests drive it. */
export interface QrPage {
  /** The QR page's URL (the login's redirect, without `#wechat_redirect`). */
  url: string;
  status: number;
  html: string;
  /** The absolute URL a second tab opens to "scan" the QR code. */
  scanUrl: string;
  /** The absolute URL the page polls. */
  pollUrl: string;
}

/** Opens the QR page a login redirected to (`…/connect/qrconnect?…#wechat_redirect`). */
export async function openQrPage(qrconnectUrl: string): Promise<QrPage> {
  const url = qrconnectUrl.replace(/#wechat_redirect$/, '');
  const response = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  const html = await response.text();
  const scan = /id="qr-scan-link" href="([^"]+)"/.exec(html)?.[1];
  const poll = /"([^"]*\/connect\/qrconnect\/poll\?uuid=[A-Za-z0-9_-]+)"/.exec(html)?.[1];
  return {
    url,
    status: response.status,
    html,
    scanUrl: scan ? new URL(unescapeHtml(scan), url).toString() : '',
    pollUrl: poll ? new URL(poll, url).toString() : '',
  };
}

/** The phone's choice on the confirm page. */
export interface PhoneChoice {
  /** A demo user's id (default `panda`), or omitted with `nickname`. */
  user?: string;
  nickname?: string;
  action?: 'allow' | 'deny';
}

/**
 * Scans the QR page's code with the "phone" (a second client), decides, and returns what the QR page then learns
 * from its poll: `{ status, redirect? }` (`redirect` is the app's callback with code and state once allowed).
 */
export async function scanAndDecide(page: QrPage, choice: PhoneChoice = {}): Promise<{ status: string; redirect?: string }> {
  if (page.status !== 200 || !page.scanUrl || !page.pollUrl) {
    throw new Error(`not a usable QR page (HTTP ${page.status}): ${page.html.slice(0, 300)}`);
  }
  const scan = await fetch(page.scanUrl, { signal: AbortSignal.timeout(10_000) });
  const scanHtml = await scan.text();
  if (scan.status !== 200) throw new Error(`scan page answered ${scan.status}: ${scanHtml.slice(0, 300)}`);
  const action = /<form[^>]*action="([^"]+)"/.exec(scanHtml)?.[1];
  const uuid = /name="uuid" value="([^"]+)"/.exec(scanHtml)?.[1];
  if (!action || !uuid) throw new Error('no confirm form on the scan page');
  const form = new URLSearchParams({ uuid: unescapeHtml(uuid), action: choice.action ?? 'allow' });
  if (choice.nickname !== undefined) {
    form.set('user', '__custom__');
    form.set('nickname', choice.nickname);
  } else {
    form.set('user', choice.user ?? 'panda');
  }
  const decided = await fetch(new URL(unescapeHtml(action), page.scanUrl), {
    method: 'POST',
    body: form,
    redirect: 'manual',
    signal: AbortSignal.timeout(10_000),
  });
  const decidedHtml = await decided.text();
  if (decided.status !== 200) throw new Error(`confirm answered ${decided.status}: ${decidedHtml.slice(0, 300)}`);
  const polled = await fetch(page.pollUrl, { signal: AbortSignal.timeout(10_000) });
  return (await polled.json()) as { status: string; redirect?: string };
}

/** A whole QR login at the emulator: open the QR page, scan, Allow; returns the callback URL WeChat sends the browser to. */
export async function qrLoginAtEmulator(qrconnectUrl: string, choice: Omit<PhoneChoice, 'action'> = {}): Promise<URL> {
  const outcome = await scanAndDecide(await openQrPage(qrconnectUrl), { ...choice, action: 'allow' });
  if (outcome.status !== 'confirmed' || !outcome.redirect) throw new Error(`QR login not confirmed: ${JSON.stringify(outcome)}`);
  return new URL(outcome.redirect);
}

/** A desktop browser's User-Agent. */
export const DESKTOP_CHROME_UA =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
/** WeChat's in-app browser on Android. */
export const ANDROID_WECHAT_UA =
  'Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/UQ1A.240205.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 ' +
  'Chrome/122.0.6261.120 Mobile Safari/537.36 XWEB/1220099 MMWEBSDK/20240404 MMWEBID/6742 MicroMessenger/8.0.49.2600(0x28003133) ' +
  'WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64';
/** WeChat's in-app browser on iOS. */
export const IOS_WECHAT_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 ' +
  'MicroMessenger/8.0.48(0x18003030) NetType/WIFI Language/zh_CN';
/** The browser built into WeChat for Windows. */
export const WINDOWS_WECHAT_UA =
  'Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/81.0.4044.138 Safari/537.36 ' +
  'NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) WindowsWechat(0x63090a13) XWEB/9129 Flue';
