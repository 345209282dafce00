/** One callback's request to exchange its authorization code. */
export interface CodeExchangeRequest<T> {
  /** The WeChat app the code belongs to (codes are namespaced by app id). */
  appId: string;
  /** The one-time authorization code from the callback. Never stored or logged raw. */
  code: string;
  /**
   * A secret only the browser that started this login knows (its state-cookie nonce). Duplicates carrying the same
   * binding share the first exchange's outcome; a request with another binding gets `CodeReplayError`.
   */
  binding: string;
  /**
   * The upstream work, run at most once per code across every instance: the token exchange and, with
   * snsapi_userinfo, the profile read. Its result must be JSON-serializable; it is stored sealed to `binding`.
   * The signal aborts when the lock's lifetime is about to run out.
   */
  exchange: (signal: AbortSignal) => Promise<T>;
}

/** Coordination health: `disabled` when no Redis is configured (single instance, in-process coordination). */
export type CodeExchangeHealth = 'up' | 'down' | 'disabled';
