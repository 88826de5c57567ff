-- Answer "may I call these numbers?" in one round trip, for one organization (its org-wide
-- list, the named lists asked about, its prefix rules and its exemptions) or for the shared
-- lists it subscribes to. The two live in different hash tags (on a Redis Cluster, different
-- slots), so a check of a subscribed organization is two calls of this script, sent together
-- (one pipeline on a single server, one call per slot in parallel on a cluster), and the
-- caller combines their answers (see infra/redis/layout.py).
--
-- The organization (ARGV[1] = 'o'):
-- KEYS[1]  <prefix>:{<orgId>}:meta, the organization's meta key (its DNC flag, its prefix
--          rules, its subscriptions and its org-wide list's generation)
-- KEYS[2]  <prefix>:{<orgId>}:n:, what the org-wide list's bucket keys start with (a bucket
--          key is KEYS[2] .. <gen> .. ':' .. <r>)
-- KEYS[3]  <prefix>:{<orgId>}:x, its exemptions (hash: number -> when it lapses)
-- KEYS[2j+2], KEYS[2j+3]  for the j-th named list asked about (j = 1..K): its meta key
--          <prefix>:{<orgId>}:l:<listId>:meta and its bucket keys' prefix
-- Returns {enabled, ready, subscriptions, masks}:
--   ready = 0   the mirror is not ready (the organization's or any list asked about):
--               nothing is known, ask Postgres (POST /api/dnc/check); enabled is then -1
--               and nothing follows;
--   enabled = 0 DNC is off for the organization: every number is callable (nothing follows);
--   subscriptions  the ids of the shared lists the organization subscribes to, joined by ','
--               ('' for none): ask about them in a 's' call, and combine;
--   masks       what blocks each number, a bit mask: bit 0 the org-wide list, bit j the j-th
--               named list, bit K+1 a prefix rule, bit K+2 an exemption in force (it lifts the
--               shared lists, nothing else; only looked up when there are subscriptions), as
--               W = floor((K+2)/4)+1 lowercase hex digits a number (W = 1 up to one named
--               list: '0' callable, '1' the org-wide list, ...).
--
-- Shared lists (ARGV[1] = 's'):
-- KEYS[2j-1], KEYS[2j]  for the j-th shared list (j = 1..S, S >= 1): its meta key
--          <prefix>:{shared:<listId>}:meta and its bucket keys' prefix
--          <prefix>:{shared:<listId>}:n:
-- Returns {1, stale, masks}, or {0} when a list is not ready (ask Postgres):
--   stale       a bit mask: bit j-1 set when the j-th list is past its freshness (its data
--               no longer vouches for numbers: every number it does not hold is blocked
--               with reason "registry_stale");
--   masks       bit j-1 the j-th list holds the number, W = floor((S-1)/4)+1 hex digits a
--               number.
--
-- ARGV[2]  the numbers, as E.164 digits without '+' (e.g. 12125551234) joined by ','.
-- A call with keys that do not fit its mode, or numbers that are not E.164 digits (a '+', a
-- space, a leading 0; anything but digits joined by ','), gets an error, which the caller must
-- read as "unknown", never as an answer.
local mode = ARGV[1]
if mode == 'o' then
  if #KEYS < 3 or #KEYS % 2 ~= 1 then
    return redis.error_reply('check.lua o takes 3 keys, then 2 for each named list')
  end
elseif mode == 's' then
  if #KEYS < 2 or #KEYS % 2 ~= 0 then
    return redis.error_reply('check.lua s takes 2 keys for each shared list')
  end
else
  return redis.error_reply("check.lua takes 'o' or 's', then the numbers")
end
local joined = ARGV[2] or ''
if #ARGV ~= 2 or (joined ~= '' and not string.match(joined, '^[1-9]%d*[%d,]*$'))
   or string.find(joined, ',,', 1, true) or string.find(joined, ',0', 1, true)
   or string.sub(joined, -1) == ',' then
  return redis.error_reply('check.lua takes E.164 digits joined by ","')
end
local numbers = {}
for n in string.gmatch(joined, '%d+') do
  numbers[#numbers + 1] = n
end
local call, fmod, format, sub = redis.call, math.fmod, string.format, string.sub
local run_id = string.match(call('INFO', 'server'), 'run_id:(%w+)')
local now = tonumber(call('TIME')[1])

-- A list's live generation: its bucket keys' start and its bucket count, or nil when it is not
-- ready. A mirror loaded by another server process (a restart from a snapshot, a failover to a
-- replica) may miss recent writes: only the process that loaded it vouches for it. (The flag
-- is 'ready3': the scripts shipped before lists read 'ready', those before shared lists
-- 'ready2', and a dialer still running one must find none, since it knows neither shared
-- lists nor exemptions: it answers "unknown", and the dialer asks the API.)
local function live(meta, base)
  if meta[1] ~= '1' or not meta[2] or not meta[3] or meta[4] ~= run_id then
    return nil
  end
  return base .. meta[2] .. ':', tonumber(meta[3])
end

-- masks[i] gains `bit` for each number the list (bases, count) holds: one SISMEMBER a
-- number, or, for a list of few buckets (several numbers asked fall in each), one SMISMEMBER
-- a bucket
local values = {}
for i = 1, #numbers do
  values[i] = tonumber(numbers[i])
end
local function lookup(base, count, bit, masks)
  if count * 4 <= #numbers then
    local at, members = {}, {}  -- per bucket: the numbers' indexes, and their members
    for i = 1, #values do
      local n = values[i]
      local r = fmod(n, count)
      local indexes = at[r]
      if indexes then
        indexes[#indexes + 1] = i
        local m = members[r]
        m[#m + 1] = format('%d', (n - r) / count)
      else
        at[r] = {i}
        members[r] = {format('%d', (n - r) / count)}
      end
    end
    for r, indexes in pairs(at) do
      local key, m = base .. format('%d', r), members[r]
      for first = 1, #m, 4000 do  -- below Lua's unpack limit
        local last = math.min(first + 3999, #m)
        local held = call('SMISMEMBER', key, unpack(m, first, last))
        for k = first, last do
          if held[k - first + 1] == 1 then
            local i = indexes[k]
            masks[i] = masks[i] + bit
          end
        end
      end
    end
  else
    for i = 1, #values do
      local n = values[i]
      local r = fmod(n, count)
      if call('SISMEMBER', base .. format('%d', r), format('%d', (n - r) / count)) == 1 then
        masks[i] = masks[i] + bit
      end
    end
  end
end

local function packed(masks, width)
  local digits, out = '%0' .. width .. 'x', {}
  for i = 1, #masks do
    out[i] = format(digits, masks[i])
  end
  return table.concat(out)
end

local masks = {}
for i = 1, #numbers do
  masks[i] = 0
end

if mode == 's' then
  local stale, bit = 0, 1
  local lists = {}
  for j = 1, #KEYS, 2 do
    local meta = call('HMGET', KEYS[j], 'ready3', 'gen', 'buckets', 'run_id', 'fresh_until')
    local base, count = live(meta, KEYS[j + 1])
    if not base or not meta[5] then
      return {0}
    end
    lists[#lists + 1] = {base, count}
    if now >= tonumber(meta[5]) then
      stale = stale + bit
    end
    bit = bit * 2
  end
  bit = 1
  for j = 1, #lists do
    lookup(lists[j][1], lists[j][2], bit, masks)
    bit = bit * 2
  end
  return {1, stale, packed(masks, math.floor((#lists - 1) / 4) + 1)}
end

local meta = call('HMGET', KEYS[1], 'ready3', 'gen', 'buckets', 'run_id', 'enabled', 'prefixes',
                  'shared')
-- every list asked about must be ready; prefix rules and subscriptions never written are not
-- known either (a list not ready, or not made, is unknown whatever the DNC flag: the API then
-- says it is unknown)
local base, count = live(meta, KEYS[2])
if not base or not meta[6] or not meta[7] then
  return {-1, 0}
end
local bases, counts = {base}, {count}
for j = 4, #KEYS, 2 do
  local list = call('HMGET', KEYS[j], 'ready3', 'gen', 'buckets', 'run_id')
  base, count = live(list, KEYS[j + 1])
  if not base then
    return {-1, 0}
  end
  bases[#bases + 1] = base
  counts[#counts + 1] = count
end
if meta[5] ~= '1' then
  return {0, 1}
end
local lists = #bases
local bit = 1
for j = 1, lists do
  lookup(bases[j], counts[j], bit, masks)
  bit = bit * 2
end
-- the prefix rules, and the lengths they come in
local rules, lengths, seen = {}, {}, {}
for rule in string.gmatch(meta[6], '%d+') do
  rules[rule] = true
  if not seen[#rule] then
    seen[#rule] = true
    lengths[#lengths + 1] = #rule
  end
end
local prefix_bit, exempt_bit = 2 ^ lists, 2 ^ (lists + 1)
for i = 1, #numbers do
  local text = numbers[i]
  for k = 1, #lengths do
    if rules[sub(text, 1, lengths[k])] then
      masks[i] = masks[i] + prefix_bit
      break
    end
  end
end
-- exemptions: a number's value is when its exemption lapses (seconds since the epoch), '0'
-- for never
if meta[7] ~= '' and #numbers > 0 then
  for first = 1, #numbers, 4000 do
    local last = math.min(first + 3999, #numbers)
    local lapses = call('HMGET', KEYS[3], unpack(numbers, first, last))
    for k = first, last do
      local lapse = lapses[k - first + 1]
      if lapse and (lapse == '0' or tonumber(lapse) > now) then
        masks[k] = masks[k] + exempt_bit
      end
    end
  end
end
return {1, 1, meta[7], packed(masks, math.floor((lists + 1) / 4) + 1)}
