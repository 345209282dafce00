/**
 * Helpers of the sample app's e2e tests: a cookie jar per simulated browser, and the user's part of the login at
 * the emulator (the consent form) done over HTTP the way a browser submits it.
 */

/** A browser's cookies for one site (the tests talk to one host per jar, so domain and path matching are moot). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Applies the Set-Cookie headers of a response (deletions included). */
  store(setCookie: string[] | string | null | undefined): void {
    const lines = setCookie === null || setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
    for (const line of lines) {
      const [pair = '', ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attributes.some((attribute) => {
        const [key = '', val = ''] = attribute.split('=').map((s) => s.trim());
        if (key.toLowerCase() === 'max-age') return Number(val) <= 0;
        if (key.toLowerCase() === 'expires') return Date.parse(val) <= Date.now();
        return false;
      });
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  delete(name: string): void {
    this.cookies.delete(name);
  }

  names(): string[] {
    return [...this.cookies.keys()];
  }

  /** The Cookie request header ('' when empty). */
  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  clone(): CookieJar {
    const copy = new CookieJar();
    for (const [name, value] of this.cookies) copy.set(name, value);
    return copy;
  }
}

/** Finds a Set-Cookie line by cookie name. */
export function findSetCookie(setCookie: string[] | string | undefined, name: string): string | undefined {
  const lines = setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie];
  return lines.find((line) => line.startsWith(`${name}=`));
}

/** The user's choice on the emulator's consent page. */
export interface ConsentChoice {
  /** A configured user's id (DEMO_USERS), or omitted with `nickname` for an ad-hoc user. */
  user?: string;
  /** An ad-hoc user's nickname (the consent page's "Type a nickname"). */
  nickname?: string;
  action?: 'allow' | 'deny';
}

/**
 * What the emulator's consent page does when the user decides: posts the authorize parameters back with the choice.
 * Returns the callback URL WeChat redirects the browser to (`redirect_uri?code=…&state=…`).
 */
export async function consentAtEmulator(authorizeUrl: string, choice: ConsentChoice = {}): Promise<URL> {
  const authorize = new URL(authorizeUrl);
  if (authorize.hash !== '#wechat_redirect') throw new Error(`authorize URL lacks #wechat_redirect: ${authorizeUrl}`);
  // Open the consent page first, as a browser would (and to catch an authorize page error early).
  const page = await fetch(authorize.href.replace(/#.*$/, ''), { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  const pageText = await page.text();
  if (page.status !== 200) throw new Error(`consent page answered ${page.status}: ${pageText.slice(0, 300)}`);

  const form = new URLSearchParams();
  for (const name of ['appid', 'redirect_uri', 'response_type', 'scope', 'state']) {
    form.set(name, authorize.searchParams.get(name) ?? '');
  }
  if (choice.nickname !== undefined) {
    form.set('user', '__custom__');
    form.set('nickname', choice.nickname);
  } else if (choice.user !== undefined) {
    form.set('user', choice.user);
  }
  form.set('action', choice.action ?? 'allow');
  const confirmUrl = new URL(`${authorize.pathname}/confirm`, authorize.origin);
  const answer = await fetch(confirmUrl, {
    method: 'POST',
    body: form,
    redirect: 'manual',
    signal: AbortSignal.timeout(10_000),
  });
  const location = answer.headers.get('location');
  await answer.arrayBuffer();
  if (answer.status !== 302 || !location) throw new Error(`consent confirm answered ${answer.status} without a redirect`);
  return new URL(location);
}

/** A path plus query of a URL (what a test sends to whichever instance it picks). */
export function pathAndQuery(url: URL): string {
  return `${url.pathname}${url.search}`;
}
