// The server-side scripts of the Redis backend. The commit script is store/expected-revision.ts
// `decideAppend` and store/commit-plan.ts `planCommit` ported to Lua, so an append is checked and
// written in one round trip and atomically (Redis runs a script alone). Keep the three in step:
// the conformance suite runs against both. Bodies are laid out as store/redis/record-codec.ts says.
//
// Keys: a script declares the key that routes it (in Redis Cluster, to the master of the store's
// slot) and builds the other key names from the store's hash tag, so they are in the same slot:
// Redis Cluster only refuses keys of another slot. Declaring the per-stream keys of every write
// cost more on both sides than the rest of a small append.
//
// Scripts start with a `#!lua` shebang: Redis then refuses a writing script before it starts when
// the server is out of memory, instead of failing at the first write halfway through a batch.
import { EXPECT_ANY, EXPECT_NO_STREAM, EXPECT_REVISION, EXPECT_STREAM_EXISTS, WRITE_METASTREAM, WRITE_SOFT_DELETES, WRITE_TOMBSTONE } from './commit-arguments.js';
import { MAX_ENTRY_EVENTS } from './record-codec.js';

/**
 * Events a stream's id index holds as a listpack, at most; past it the commit script converts the
 * index to a hash table. 128 is the `hash-max-listpack-entries` of the redis.conf Redis ships, so on
 * such a server nothing changes; on the built-in 512 it bounds the field-by-field search.
 */
export const LISTPACK_IDS = 128;

/** Lua helpers on bodies (record-codec.ts layout) and on `$all` entries shared by the scripts. */
const BODY_HELPERS = `
-- Library functions as locals: each use is then a register read, not a global and a field lookup.
local sub, format, byte, sunpack = string.sub, string.format, string.byte, struct.unpack
local function int(n) return format('%d', n) end

-- A stream's event count from its id index's \`n\` field. A trailing '*' says the hash also holds
-- \`t\` (tombstone position) or \`d\` (soft-deleted): most streams have neither, and a listpack hash
-- is searched field by field, so appends look those up only when the mark is there.
local function countOf(nv)
  if not nv then return 0, false end
  if byte(nv, -1) == 42 then return tonumber(sub(nv, 1, -2)), true end
  return tonumber(nv), false
end

-- Event count and stream name length of a body.
local function bodyCount(body)
  local s = sunpack('>H', body, 10)
  return sunpack('>I4', body, 12 + s), s
end

-- The 16-byte id of record k (0-based) of a body.
local function idOf(body, k)
  local at = 16 + sunpack('>H', body, 10) + 16 * k
  return sub(body, at, at + 15)
end

-- The data of record k (0-based) of a body.
local function dataOf(body, k)
  local n, s = bodyCount(body)
  local at = 16 + s + 16 * n
  for _ = 1, k do at = at + 4 + struct.unpack('>I4', body, at) end
  local l = struct.unpack('>I4', body, at)
  local t = struct.unpack('>H', body, at + 5)
  local m = struct.unpack('>I4', body, at + 7 + t)
  return string.sub(body, at + 11 + t + m, at + 3 + l)
end

-- The entry holding position pos: its id, first and last position, first revision and body; nil
-- when the position was scavenged. An entry's id is 0-<its last position>, so it is the first id
-- at or after 0-pos, and its first position is the last minus its event count plus one.
local function entryAt(all, pos)
  local e = redis.call('XRANGE', all, '0-' .. int(pos), '+', 'COUNT', 1)[1]
  if not e then return nil end
  local body = e[2][4]
  local last = tonumber(string.sub(e[1], 3))
  local first = last - bodyCount(body) + 1
  if first > pos then return nil end
  return e[1], first, last, e[2][2], body
end
`;

// KEYS: 1 head counter, 2 the $all stream. ARGV: as commit-arguments.ts lays them out.
// Returns one flat array: kind, last revision, position per write, the commits' writes one after
// another (kind 1 written, 2 idempotent, 3 wrong expected revision, 4 stream deleted). Flat, because
// Redis checks every table of a reply for the fields of an error or status reply: an array per
// commit cost more than deciding a single-event append.
export const COMMIT_SCRIPT = `#!lua
local TOMBSTONE = '9223372036854775807'
local RUN = ${MAX_ENTRY_EVENTS}
-- Events a stream's id index holds while it stays a listpack (see write).
local LISTPACK_IDS = ${LISTPACK_IDS}
-- A value longer than hash-max-listpack-value (64 built in; 1025 bytes covers the usual settings).
local long = nil
local function longValue()
  if not long then long = string.rep('-', 1025) end
  return long
end
local REVISION, ANY, NO_STREAM, STREAM_EXISTS = ${EXPECT_REVISION}, ${EXPECT_ANY}, ${EXPECT_NO_STREAM}, ${EXPECT_STREAM_EXISTS}
local TOMBSTONE_FLAG, META_FLAG, SOFT_DELETES_FLAG = ${WRITE_TOMBSTONE}, ${WRITE_METASTREAM}, ${WRITE_SOFT_DELETES}
local tag = ARGV[1]
-- Streams this script marked soft-deleted: their own write later in the script keeps the mark.
local marked = {}
local all = KEYS[2]
-- head: the last position handed out; positions start at 1 (a Redis stream id must exceed 0-0)
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
local startHead = head
${BODY_HELPERS}
local function buildBody(id, created, stream, etype, data)
  return string.char(2) .. struct.pack('>d', created) .. struct.pack('>H', #stream) .. stream .. struct.pack('>I4', 1) .. id
    .. struct.pack('>I4', 7 + #etype + #data) .. string.char(1) .. struct.pack('>H', #etype) .. etype .. struct.pack('>I4', 0) .. data
end

-- The id of the metadata event a recreation writes at position pos: a name-based (version 5 style)
-- UUID of the store and the position, unique without a random source in the script.
local function spareId(pos)
  local h = redis.sha1hex(tag .. ':recreated-metadata:' .. int(pos))
  h = string.sub(h, 1, 12) .. '5' .. string.sub(h, 14, 16) .. string.format('%x', 8 + tonumber(string.sub(h, 17, 17), 16) % 4) .. string.sub(h, 18, 32)
  return (string.gsub(h, '..', function(x) return string.char(tonumber(x, 16)) end))
end

-- recreatedMetadata: every other key kept, $tb moved to the first new revision.
local function recreated(current, tb)
  if current then
    local rewritten, n = string.gsub(current, '("%$tb"%s*:%s*)%d+', '%1' .. tb, 1)
    if n == 1 then return rewritten end
  end
  return '{"$tb":' .. tb .. '}'
end

-- The id of the write's event k (0-based).
local function incomingId(w, k)
  return idOf(w.bodies[math.floor(k / RUN) + 1], k % RUN)
end

-- Whether the batch's ids stand, position by position, from revision 'from' on.
local function idsStandAt(w, from)
  local positions = redis.call('LRANGE', w.s, from, from + w.n - 1)
  if #positions ~= w.n then return false end
  local first, last, body = nil, nil, nil
  for k = 1, w.n do
    local pos = tonumber(positions[k])
    if not first or pos < first or pos > last then
      local id, f, l, _, b = entryAt(all, pos)
      if not id then return false end
      first, last, body = f, l, b
    end
    if idOf(body, pos - first) ~= incomingId(w, k - 1) then return false end
  end
  return true
end

-- decideAppend (store/expected-revision.ts). One HMGET reads the stream's event count and, for
-- 'any' and 'stream_exists', where the batch's first id already is.
local function decide(w)
  local e = w.expected
  local probe = 'n'
  if w.n > 0 and (e == ANY or e == STREAM_EXISTS) then probe = incomingId(w, 0) end
  local st = redis.call('HMGET', w.i, 'n', probe)
  local count, flagged = countOf(st[1])
  local last = count - 1
  w.last = last
  w.flagged = flagged
  if flagged then
    local x = redis.call('HMGET', w.i, 't', 'd')
    if x[1] then return 'deleted' end
    if x[2] == '1' then
      if e == STREAM_EXISTS then return 'deleted' end
      if e == ANY or e == NO_STREAM or (e == REVISION and w.revision == last) then w.recreate = true; return 'write' end
      return 'wrong'
    end
  end
  if last < 0 then
    if e == ANY or e == NO_STREAM then return 'write' end
    if e == STREAM_EXISTS and redis.call('HEXISTS', tag .. ':i:$$' .. w.stream, 'n') == 1 then return 'write' end
    return 'wrong'
  end
  if e == ANY or e == STREAM_EXISTS then
    if w.n == 0 then return 'write' end
    local at = st[2]
    if not at then return 'write' end
    at = tonumber(at)
    if idsStandAt(w, at) then w.idem = at + w.n - 1; return 'idempotent' end
    return 'wrong'
  end
  local exact = -1
  if e == REVISION then exact = w.revision end
  if exact == last then return 'write' end
  if exact > last or w.n == 0 then return 'wrong' end
  if idsStandAt(w, exact + 1) then w.idem = exact + w.n; return 'idempotent' end
  return 'wrong'
end

-- Sets field 'd' of a stream's id index (soft-deleted) and the mark that says it is there.
local function markSoftDeleted(i)
  local nv = redis.call('HGET', i, 'n')
  if not nv then nv = '0' end
  if string.byte(nv, -1) ~= 42 then nv = nv .. '*' end
  redis.call('HSET', i, 'd', '1', 'n', nv)
end

local function pushAll(cmd, key, items)
  for i = 1, #items, 1000 do
    redis.call(cmd, key, unpack(items, i, math.min(i + 999, #items)))
  end
end

local function write(w, created)
  if w.tombstone then
    head = head + 1
    local pos = int(head)
    redis.call('XADD', all, '0-' .. pos, 'r', TOMBSTONE, 'b', w.bodies[1])
    redis.call('HSET', w.i, 't', pos, 'n', int(w.last + 1) .. '*')
    w.pos = head
    w.rev = w.last
    return
  end
  local rev = w.last
  if w.n > 0 then
    -- np, ni: the lengths of positions and ids (Lua 5.1's # is a binary search on every use).
    local positions, ids, np, ni = {}, {}, 0, 0
    for b = 1, #w.bodies do
      local body = w.bodies[b]
      local n, s = bodyCount(body)
      local first = head + 1
      head = head + n
      local firstText, revText = int(first), int(rev + 1)
      local lastText = firstText
      if n > 1 then lastText = int(head) end
      redis.call('XADD', all, '0-' .. lastText, 'r', revText, 'b', body)
      positions[np + 1] = firstText
      ids[ni + 1] = sub(body, 16 + s, 31 + s)
      ids[ni + 2] = revText
      ni = ni + 2
      local at = 16 + s
      for k = 1, n - 1 do
        at = at + 16
        positions[np + 1 + k] = format('%d', first + k)
        ids[ni + 1] = sub(body, at, at + 15)
        ids[ni + 2] = format('%d', rev + 1 + k)
        ni = ni + 2
      end
      np = np + n
      rev = rev + n
    end
    ids[ni + 1] = 'n'
    ids[ni + 2] = int(rev + 1)
    -- A recreation clears 'd' below, and a tombstoned stream takes no writes: the mark goes.
    if (w.flagged or marked[w.stream]) and not w.recreate then ids[#ids] = ids[#ids] .. '*' end
    pushAll('RPUSH', w.s, positions)
    -- The write that takes the stream past LISTPACK_IDS events also stores a value too long for a
    -- listpack, which turns the id index into a hash table, and deletes it again (Redis does not
    -- turn it back). A listpack hash is searched field by field, and every append searches it twice
    -- for an id that is not there (the 'any' probe, and HSET before inserting a new field): up to
    -- the server's hash-max-listpack-entries (512 built in) that was a tenth of a small append's
    -- server CPU. Streams of up to LISTPACK_IDS events keep the compact encoding.
    local convert = w.last + 1 <= LISTPACK_IDS and rev + 1 > LISTPACK_IDS
    if convert then ids[#ids + 1] = 'x'; ids[#ids + 1] = longValue() end
    pushAll('HSET', w.i, ids)
    if convert then redis.call('HDEL', w.i, 'x') end
    w.pos = head
    if w.meta then
      local described = string.sub(w.stream, 3)
      if w.softDeletes then
        markSoftDeleted(tag .. ':i:' .. described)
        marked[described] = true
      else
        redis.call('HDEL', tag .. ':i:' .. described, 'd')
      end
    end
  end
  w.rev = rev
  if w.recreate then
    local meta = '$$' .. w.stream
    local im, sm = tag .. ':i:' .. meta, tag .. ':s:' .. meta
    local metaCount = countOf(redis.call('HGET', im, 'n'))
    local current = nil
    if metaCount > 0 then
      local p = tonumber(redis.call('LINDEX', sm, -1))
      local id, first, _, _, body = entryAt(all, p)
      if id then current = dataOf(body, p - first) end
    end
    head = head + 1
    local pos = int(head)
    local spare = spareId(head)
    local body = buildBody(spare, created, meta, '$metadata', recreated(current, int(w.last + 1)))
    redis.call('XADD', all, '0-' .. pos, 'r', int(metaCount), 'b', body)
    redis.call('RPUSH', sm, pos)
    redis.call('HSET', im, spare, int(metaCount), 'n', int(metaCount + 1))
    redis.call('HDEL', w.i, 'd')
  end
end

local results, nr = {}, 0
local group = ARGV[2]
local ncommits, at = sunpack('>I4', group, 1)
local ikey, skey = tag .. ':i:', tag .. ':s:'

local function newWrite(flags, revision, n, stream, bodies)
  -- Every field decide and write set is in the constructor, which sizes the table once: added
  -- later, they made Lua grow and rehash it for each write.
  local w = { stream = stream, expected = flags % 4, revision = revision, n = n, bodies = bodies, i = ikey .. stream, s = skey .. stream,
    last = -1, flagged = false, kind = false, rev = false, pos = false }
  if flags >= TOMBSTONE_FLAG then
    w.tombstone = math.floor(flags / TOMBSTONE_FLAG) % 2 == 1
    w.meta = math.floor(flags / META_FLAG) % 2 == 1
    w.softDeletes = math.floor(flags / SOFT_DELETES_FLAG) % 2 == 1
  end
  return w
end

-- A commit's writes: each decided, all written if none is refused, each answered.
local function commitWrites(writes, nw, created)
  local ok = true
  for j = 1, nw do
    local w = writes[j]
    w.kind = decide(w)
    if w.kind == 'wrong' or w.kind == 'deleted' then ok = false end
  end
  if ok then
    for j = 1, nw do
      if writes[j].kind == 'write' then write(writes[j], created) end
    end
  end
  for j = 1, nw do
    local w = writes[j]
    if w.kind == 'write' then
      results[nr + 1] = 1; results[nr + 2] = w.rev or w.last; results[nr + 3] = w.pos or head
    elseif w.kind == 'idempotent' then
      local p = redis.call('LINDEX', w.s, w.idem)
      results[nr + 1] = 2; results[nr + 2] = w.idem; results[nr + 3] = tonumber(p or head)
    elseif w.kind == 'wrong' then
      results[nr + 1] = 3; results[nr + 2] = w.last; results[nr + 3] = -1
    else
      results[nr + 1] = 4; results[nr + 2] = w.last; results[nr + 3] = -1
    end
    nr = nr + 3
  end
end

-- The common commit, one event to one stream whose append is simply written: decide and write
-- with locals only. The write tables, the batch loops and their garbage were most of the Lua time
-- of a single-event append, as much as its four redis.calls. Anything else (a flagged stream, an
-- id already there, a revision that does not match, a check of the metastream) returns false
-- before it changes anything, and the commit takes the general path, which reads the state again.
local function appendOne(e, revision, stream, body)
  local i = ikey .. stream
  local s = sunpack('>H', body, 10)
  local id = sub(body, 16 + s, 31 + s)
  local probe = 'n'
  if e == ANY or e == STREAM_EXISTS then probe = id end
  local st = redis.call('HMGET', i, 'n', probe)
  local nv = st[1]
  local last = -1
  if nv then
    if byte(nv, -1) == 42 then return false end
    last = tonumber(nv) - 1
  end
  if last < 0 then
    if e ~= ANY and e ~= NO_STREAM then return false end
  elseif e == ANY or e == STREAM_EXISTS then
    if st[2] then return false end
  elseif e ~= REVISION or revision ~= last then
    return false
  end
  head = head + 1
  local pos, rev = int(head), int(last + 1)
  redis.call('XADD', all, '0-' .. pos, 'r', rev, 'b', body)
  redis.call('RPUSH', skey .. stream, pos)
  -- Past LISTPACK_IDS events the id index becomes a hash table, as in write.
  if last + 1 == LISTPACK_IDS then
    redis.call('HSET', i, id, rev, 'n', int(last + 2), 'x', longValue())
    redis.call('HDEL', i, 'x')
  else
    redis.call('HSET', i, id, rev, 'n', int(last + 2))
  end
  results[nr + 1] = 1; results[nr + 2] = last + 1; results[nr + 3] = head
  nr = nr + 3
  return true
end

for c = 1, ncommits do
  local created, nw
  created, nw, at = sunpack('>dI4', group, at)
  local flags, revision, n, stream, after
  if nw == 1 then flags, revision, n, stream, after = sunpack('>BdI4Hc0', group, at) end
  if nw == 1 and n == 1 and flags < TOMBSTONE_FLAG then
    local body
    body, at = sunpack('>I4c0', group, after)
    if not appendOne(flags, revision, stream, body) then commitWrites({ newWrite(flags, revision, 1, stream, { body }) }, 1, created) end
  else
    local writes = {}
    for j = 1, nw do
      flags, revision, n, stream, at = sunpack('>BdI4Hc0', group, at)
      local bodies = {}
      for b = 1, math.ceil(n / RUN) do bodies[b], at = sunpack('>I4c0', group, at) end
      writes[j] = newWrite(flags, revision, n, stream, bodies)
    end
    commitWrites(writes, nw, created)
  end
end
if head > startHead then
  if startHead == 0 then redis.call('SET', tag .. ':layout', '2') end
  redis.call('SET', KEYS[1], int(head))
  redis.call('SPUBLISH', tag .. ':commits', int(head))
end
return results
`;

// KEYS: 1 $all. ARGV: 1 hash tag, 2 stream, 3 from revision, 4 'f' or 'b', 5 limit.
// Returns, per run of consecutive records in one entry: entry id, first revision, body, index of
// the run's first record and of its last (lower when reading backwards). Forwards ends with the
// tombstone when there is room, as the memory backend does. Scavenged positions are skipped.
export const READ_STREAM_SCRIPT = `#!lua flags=no-writes
local all = KEYS[1]
local tag, stream = ARGV[1], ARGV[2]
local s = tag .. ':s:' .. stream
local from, forwards, limit = tonumber(ARGV[3]), ARGV[4] == 'f', tonumber(ARGV[5])
${BODY_HELPERS}
local st = redis.call('HMGET', tag .. ':i:' .. stream, 'n', 't')
local last = countOf(st[1]) - 1
local out, count = {}, 0
local step = forwards and 1 or -1
local cur, curFirst, curLast, seg = nil, 0, -1, nil
local function push(pos)
  if not cur or pos < curFirst or pos > curLast then
    local id, first, lastPos, rev, body = entryAt(all, pos)
    if not id then return end
    cur = { id, rev, body }
    curFirst, curLast, seg = first, lastPos, nil
  end
  local k = pos - curFirst
  if seg and out[seg] + step == k then
    out[seg] = k
  else
    out[#out + 1] = cur[1]; out[#out + 1] = cur[2]; out[#out + 1] = cur[3]; out[#out + 1] = k; out[#out + 1] = k
    seg = #out
  end
  count = count + 1
end
if forwards then
  local r = from
  while r <= last and count < limit do
    local hi = math.min(r + limit - count - 1, last)
    local chunk = redis.call('LRANGE', s, r, hi)
    for k = 1, #chunk do push(tonumber(chunk[k])) end
    r = hi + 1
  end
  if count < limit and st[2] then push(tonumber(st[2])) end
else
  local r = math.min(from, last)
  while r >= 0 and count < limit do
    local lo = math.max(0, r - (limit - count) + 1)
    local chunk = redis.call('LRANGE', s, lo, r)
    for k = #chunk, 1, -1 do push(tonumber(chunk[k])) end
    r = lo - 1
  end
end
return out
`;

// KEYS: 1 the stream's id index, 2 its metastream's id index. Returns event count, tombstoned,
// soft-deleted, whether the metastream has events.
export const STREAM_STATE_SCRIPT = `#!lua flags=no-writes
${BODY_HELPERS}
local x = redis.call('HMGET', KEYS[1], 'n', 't', 'd')
local t, d = 0, 0
if x[2] then t = 1 end
if x[3] == '1' then d = 1 end
return { (countOf(x[1])), t, d, redis.call('HEXISTS', KEYS[2], 'n') }
`;

// Scavenging rebuilds $all into a new key (an entry cannot be rewritten in place: XADD only appends)
// and swaps it in. KEYS: 1 $all, 2 the rebuilt $all, 3 the scavenge lock.
// ARGV: 1 lock token, 2 first entry id of the range ('-' or '(' id), 3 its last ('+' copies up to
// the end, then swaps the rebuilt stream in and releases the lock); then per entry to replace: its
// id, the number of runs that replace it (0 drops it), and id, first revision, body per run.
// Returns the number of entries the range held.
export const SCAVENGE_COPY_SCRIPT = `#!lua
if redis.call('GET', KEYS[3]) ~= ARGV[1] then
  return redis.error_reply('ERR the scavenge lost its lock (it ran longer than the lock lives, or another scavenge took it over)')
end
local replaced = {}
local a = 4
while a <= #ARGV do
  replaced[ARGV[a]] = a
  a = a + 2 + 3 * tonumber(ARGV[a + 1])
end
local entries = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[3])
for _, e in ipairs(entries) do
  local at = replaced[e[1]]
  if at then
    for k = 0, tonumber(ARGV[at + 1]) - 1 do
      local run = at + 2 + 3 * k
      redis.call('XADD', KEYS[2], ARGV[run], 'r', ARGV[run + 1], 'b', ARGV[run + 2])
    end
  else
    redis.call('XADD', KEYS[2], e[1], 'r', e[2][2], 'b', e[2][4])
  end
end
if ARGV[3] == '+' then
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('RENAME', KEYS[2], KEYS[1]) else redis.call('DEL', KEYS[1]) end
  redis.call('DEL', KEYS[3])
else
  redis.call('PEXPIRE', KEYS[3], 60000)
end
return #entries
`;
