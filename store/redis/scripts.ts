// The server-side scripts of the Redis backend. The commit script is store/expected-revision.ts
// `decideAppend` and store/commit-plan.ts `planCommit` ported to Lua, so an append is checked and
// written in one round trip and atomically (Redis runs a script alone). Keep the three in step:
// the conformance suite runs against both.
//
// Scripts start with a `#!lua` shebang: Redis then checks up front that every key is declared (in
// one slot), and refuses a writing script before it starts when the server is out of memory,
// instead of failing at the first write halfway through a batch.

/** Where the commit script's ARGV start for each write, and how flags are packed. */
export const WRITE_TOMBSTONE = 1;
export const WRITE_METASTREAM = 2;

// KEYS: 1 head counter, 2 the $all stream, then six per write (KeyLayout.writeKeys).
// ARGV: 1 channel, 2 commit count; per commit: created ms, write count; per write: expected
// ('a' any, 'n' no_stream, 'e' stream_exists, or a revision), flags, a spare event id (16 bytes)
// for a recreation's metadata, the metastream's name, event count; per event: body, and for a
// metastream write a soft-delete marker ('1' when the event's $tb marks the stream deleted).
// Returns one array per commit: kind, last revision, position per write
// (kind 1 written, 2 idempotent, 3 wrong expected revision, 4 stream deleted).
export const COMMIT_SCRIPT = `#!lua
local TOMBSTONE = '9223372036854775807'
local all = KEYS[2]
-- head: the last position handed out; positions start at 1 (a Redis stream id must exceed 0-0)
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
local startHead = head

local function int(n) return string.format('%d', n) end

local function bodyAt(pos)
  local e = redis.call('XRANGE', all, '0-' .. pos, '0-' .. pos)
  if e[1] then return e[1][2][4] end
  return nil
end

-- The data of a body (layout in store/redis/record-codec.ts).
local function dataOf(body)
  local at = 26
  local n = struct.unpack('>H', body, at); at = at + 2 + n
  n = struct.unpack('>H', body, at); at = at + 2 + n
  n = struct.unpack('>I4', body, at); at = at + 4 + n
  return string.sub(body, at)
end

local function buildBody(id, created, stream, etype, data)
  return id .. string.char(1) .. struct.pack('>d', created) .. struct.pack('>H', #stream) .. stream
    .. struct.pack('>H', #etype) .. etype .. struct.pack('>I4', 0) .. data
end

-- recreatedMetadata: every other key kept, $tb moved to the first new revision.
local function recreated(current, tb)
  if current then
    local rewritten, n = string.gsub(current, '("%$tb"%s*:%s*)%d+', '%1' .. tb, 1)
    if n == 1 then return rewritten end
  end
  return '{"$tb":' .. tb .. '}'
end

local function eventArg(w, k) return ARGV[w.first + (k - 1) * w.stride] end

-- Whether the batch's ids stand, position by position, from revision 'from' on.
local function idsStandAt(w, from)
  local positions = redis.call('LRANGE', w.s, from, from + w.n - 1)
  if #positions ~= w.n then return false end
  for k = 1, w.n do
    local body = bodyAt(positions[k])
    if body == nil or string.sub(body, 1, 16) ~= string.sub(eventArg(w, k), 1, 16) then return false end
  end
  return true
end

-- decideAppend (store/expected-revision.ts).
local function decide(w)
  local last = redis.call('LLEN', w.s) - 1
  w.last = last
  local x = redis.call('HMGET', w.x, 't', 'd')
  if x[1] then return 'deleted' end
  local e = w.expected
  if x[2] == '1' then
    if e == 'e' then return 'deleted' end
    if e == 'a' or e == 'n' or tonumber(e) == last then w.recreate = true; return 'write' end
    return 'wrong'
  end
  if last < 0 then
    if e == 'a' or e == 'n' then return 'write' end
    if e == 'e' and redis.call('LLEN', w.sm) > 0 then return 'write' end
    return 'wrong'
  end
  if e == 'a' or e == 'e' then
    if w.n == 0 then return 'write' end
    local at = redis.call('HGET', w.i, string.sub(eventArg(w, 1), 1, 16))
    if not at then return 'write' end
    at = tonumber(at)
    if idsStandAt(w, at) then w.idem = at + w.n - 1; return 'idempotent' end
    return 'wrong'
  end
  local exact = -1
  if e ~= 'n' then exact = tonumber(e) end
  if exact == last then return 'write' end
  if exact > last or w.n == 0 then return 'wrong' end
  if idsStandAt(w, exact + 1) then w.idem = exact + w.n; return 'idempotent' end
  return 'wrong'
end

local function pushAll(cmd, key, items)
  for i = 1, #items, 1000 do
    redis.call(cmd, key, unpack(items, i, math.min(i + 999, #items)))
  end
end

local function write(w, created)
  local rev = w.last
  local positions, ids = {}, {}
  local marker = nil
  for k = 1, w.n do
    local body = eventArg(w, k)
    head = head + 1
    local pos = int(head)
    if w.tombstone then
      redis.call('XADD', all, '0-' .. pos, 'r', TOMBSTONE, 'b', body)
      redis.call('HSET', w.x, 't', pos)
    else
      rev = rev + 1
      redis.call('XADD', all, '0-' .. pos, 'r', int(rev), 'b', body)
      positions[#positions + 1] = pos
      ids[#ids + 1] = string.sub(body, 1, 16)
      ids[#ids + 1] = int(rev)
      if w.meta then marker = ARGV[w.first + (k - 1) * w.stride + 1] end
    end
    w.pos = pos
  end
  if #positions > 0 then
    pushAll('RPUSH', w.s, positions)
    pushAll('HSET', w.i, ids)
  end
  if marker == '1' then redis.call('HSET', w.xd, 'd', '1')
  elseif marker then redis.call('HDEL', w.xd, 'd') end
  w.rev = rev
  if w.recreate then
    local metaLast = redis.call('LLEN', w.sm) - 1
    local current = nil
    if metaLast >= 0 then
      local body = bodyAt(redis.call('LINDEX', w.sm, -1))
      if body then current = dataOf(body) end
    end
    local body = buildBody(w.spare, created, w.metaName, '$metadata', recreated(current, int(w.last + 1)))
    head = head + 1
    local pos = int(head)
    redis.call('XADD', all, '0-' .. pos, 'r', int(metaLast + 1), 'b', body)
    redis.call('RPUSH', w.sm, pos)
    redis.call('HSET', w.im, w.spare, int(metaLast + 1))
    redis.call('HDEL', w.x, 'd')
  end
end

local results = {}
local argi, keyi = 3, 3
for c = 1, tonumber(ARGV[2]) do
  local created = tonumber(ARGV[argi])
  local nw = tonumber(ARGV[argi + 1])
  argi = argi + 2
  local writes = {}
  for j = 1, nw do
    local flags = tonumber(ARGV[argi + 1])
    local w = {
      s = KEYS[keyi], i = KEYS[keyi + 1], x = KEYS[keyi + 2], sm = KEYS[keyi + 3], im = KEYS[keyi + 4], xd = KEYS[keyi + 5],
      expected = ARGV[argi], tombstone = flags % 2 == 1, meta = math.floor(flags / 2) % 2 == 1,
      spare = ARGV[argi + 2], metaName = ARGV[argi + 3], n = tonumber(ARGV[argi + 4]), first = argi + 5,
    }
    if w.meta then w.stride = 2 else w.stride = 1 end
    keyi = keyi + 6
    argi = w.first + w.n * w.stride
    writes[j] = w
  end
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
  local out = {}
  for j = 1, nw do
    local w = writes[j]
    if w.kind == 'write' then
      out[#out + 1] = 1; out[#out + 1] = w.rev or w.last; out[#out + 1] = tonumber(w.pos or head)
    elseif w.kind == 'idempotent' then
      local p = redis.call('LINDEX', w.s, w.idem)
      out[#out + 1] = 2; out[#out + 1] = w.idem; out[#out + 1] = tonumber(p or head)
    elseif w.kind == 'wrong' then
      out[#out + 1] = 3; out[#out + 1] = w.last; out[#out + 1] = -1
    else
      out[#out + 1] = 4; out[#out + 1] = w.last; out[#out + 1] = -1
    end
  end
  results[c] = out
end
if head > startHead then
  redis.call('SET', KEYS[1], int(head))
  redis.call('SPUBLISH', ARGV[1], int(head))
end
return results
`;

// KEYS: positions, state, $all. ARGV: from revision, 'f' or 'b', limit.
// Returns position, revision, body for each record; forwards ends with the tombstone when there is
// room, as the memory backend does. Positions of scavenged events are skipped.
export const READ_STREAM_SCRIPT = `#!lua flags=no-writes
local s, x, all = KEYS[1], KEYS[2], KEYS[3]
local from, limit = tonumber(ARGV[1]), tonumber(ARGV[3])
local last = redis.call('LLEN', s) - 1
local out, count = {}, 0
local function push(pos)
  local e = redis.call('XRANGE', all, '0-' .. pos, '0-' .. pos)
  if e[1] then
    out[#out + 1] = pos; out[#out + 1] = e[1][2][2]; out[#out + 1] = e[1][2][4]
    count = count + 1
  end
end
if ARGV[2] == 'f' then
  local r = from
  while r <= last and count < limit do
    local hi = math.min(r + limit - count - 1, last)
    local chunk = redis.call('LRANGE', s, r, hi)
    for k = 1, #chunk do push(chunk[k]) end
    r = hi + 1
  end
  if count < limit then
    local t = redis.call('HGET', x, 't')
    if t then push(t) end
  end
else
  local r = math.min(from, last)
  while r >= 0 and count < limit do
    local lo = math.max(0, r - (limit - count) + 1)
    local chunk = redis.call('LRANGE', s, lo, r)
    for k = #chunk, 1, -1 do push(chunk[k]) end
    r = lo - 1
  end
end
return out
`;

// KEYS: positions, state, metastream positions. Returns event count, tombstoned, soft-deleted,
// metastream event count.
export const STREAM_STATE_SCRIPT = `#!lua flags=no-writes
local x = redis.call('HMGET', KEYS[2], 't', 'd')
local t, d = 0, 0
if x[1] then t = 1 end
if x[2] == '1' then d = 1 end
return { redis.call('LLEN', KEYS[1]), t, d, redis.call('LLEN', KEYS[3]) }
`;

// KEYS: $all. ARGV: positions to remove. Returns how many were removed.
export const SCAVENGE_SCRIPT = `#!lua
local removed = 0
for i = 1, #ARGV, 1000 do
  local ids = {}
  for k = i, math.min(i + 999, #ARGV) do ids[#ids + 1] = '0-' .. ARGV[k] end
  removed = removed + redis.call('XDEL', KEYS[1], unpack(ids))
end
return removed
`;
