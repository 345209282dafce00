import { defineRedisScript } from './redis-coordination.connection.js';

/**
 * Compare-and-delete, then optionally publish. KEYS: lock. ARGV: token, channel ('' for none), message.
 * Returns 1 when this token held the lock.
 */
export const RELEASE_LOCK_SCRIPT = defineRedisScript(`
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  released = 1
end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return released
`);

/** The value of a lock turned into a completion marker. Tokens are 22 base64url characters: never equal to it. */
export const COMPLETED_LOCK_VALUE = 'completed';

/**
 * Compare-and-set: sets the key to a new value living ttlMs only if it holds the expected one (a compare SET cannot
 * do alone). Turns a lock into a completion marker, and a marker whose outcome is gone back into a lock.
 * KEYS: key. ARGV: expected, value, ttlMs. Returns 1 when it did.
 */
export const COMPARE_AND_SET_SCRIPT = defineRedisScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

/**
 * Fast path, one round trip before the exchange: the stored outcome, or the lock, or how long to wait.
 * KEYS: result, lock. ARGV: token, lockTtlMs.
 * Returns {1, envelope} | {2} (lock taken) | {3, remainingMs}.
 */
export const CLAIM_SCRIPT = defineRedisScript(`
local stored = redis.call('GET', KEYS[1])
if stored then return {1, stored} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
local remaining = redis.call('PTTL', KEYS[2])
if remaining < 0 then remaining = tonumber(ARGV[2]) end
return {3, remaining}
`);

/**
 * Fast path, one round trip after the exchange: store the outcome unless one is already stored (first writer wins,
 * so a late holder and a taker-over cannot give duplicates different answers), release the lock if still owned, and
 * wake the waiters with the stored outcome. KEYS: result, lock. ARGV: token, envelope, resultTtlMs, channel.
 * Returns {released, storedEnvelope or '' when it is ours}.
 */
export const COMPLETE_SCRIPT = defineRedisScript(`
local stored = ARGV[2]
local ours = 1
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', ARGV[3]) then
  local existing = redis.call('GET', KEYS[1])
  if existing then
    stored = existing
    ours = 0
  end
end
local released = 0
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
  released = 1
end
redis.call('PUBLISH', ARGV[4], stored)
if ours == 1 then return {released, ''} end
return {released, stored}
`);
