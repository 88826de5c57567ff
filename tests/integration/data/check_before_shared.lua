-- Answer "may I call these numbers?" for one organization in one round trip: its org-wide
-- list, the named lists asked about and its prefix rules.
--
-- KEYS[1]  <prefix>:{<orgId>}:meta, the organization's meta key (its DNC flag, its prefix
--          rules and its org-wide list's generation)
-- KEYS[2]  <prefix>:{<orgId>}:n:, what the org-wide list's bucket keys start with (a bucket
--          key is KEYS[2] .. <gen> .. ':' .. <r>; see infra/redis/layout.py)
-- KEYS[2j+1], KEYS[2j+2]  for the j-th named list asked about (j = 1..K): its meta key
--          <prefix>:{<orgId>}:l:<listId>:meta and its bucket keys' prefix
--          <prefix>:{<orgId>}:l:<listId>:n:
-- ARGV     the numbers, as E.164 digits without '+' (e.g. 12125551234); or, packed, for
--          callers that check thousands at once: ARGV[1] = '@', ARGV[2] = the numbers
--          joined by ',' (no per-argument cost on either side)
--
-- Returns {enabled, ready, m1, ..., mN}, or {enabled, ready, 'm1...mN'} when packed:
--   ready = 0   the mirror is not ready (the organization's or any list asked about):
--               nothing is known, ask Postgres (POST /api/dnc/check); enabled is then -1
--               and nothing follows;
--   enabled = 0 DNC is off for the organization: every number is callable (nothing follows);
--   mI          what blocks number I, a bit mask: bit 0 the org-wide list, bit j the j-th
--               named list, bit K+1 a prefix rule; 0 means callable. As an integer, or packed
--               as W = floor((K+1)/4)+1 lowercase hex digits a number (W = 1 up to 2 named
--               lists: '0' callable, '1' the org-wide list, ...).
-- A call with a number of keys that is not even and at least 2, or numbers that are not
-- E.164 digits (a '+', a space, a leading 0; packed: anything but digits joined by ','), gets
-- an error, which the caller must read as "unknown", never as an answer.
if #KEYS < 2 or #KEYS % 2 ~= 0 then
  return redis.error_reply('check.lua takes 2 keys, then 2 for each named list')
end
local packed = ARGV[1] == '@'
local numbers = ARGV
if packed then
  local joined = ARGV[2] or ''
  if #ARGV > 2 or (joined ~= '' and not string.match(joined, '^[1-9]%d*[%d,]*$'))
     or string.find(joined, ',,', 1, true) or string.find(joined, ',0', 1, true)
     or string.sub(joined, -1) == ',' then
    return redis.error_reply('check.lua takes E.164 digits joined by ","')
  end
  numbers = {}
  for n in string.gmatch(joined, '%d+') do
    numbers[#numbers + 1] = n
  end
end
for i = 1, #numbers do
  if not string.match(numbers[i], '^[1-9]%d*$') then
    return redis.error_reply('check.lua takes numbers as E.164 digits, without "+"')
  end
end
local call, fmod, format, sub = redis.call, math.fmod, string.format, string.sub
local meta = call('HMGET', KEYS[1], 'ready2', 'enabled', 'gen', 'buckets', 'run_id', 'prefixes')
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
-- A mirror loaded by another server process (a restart from a snapshot, a failover to a
-- replica) may miss recent writes: only the process that loaded it vouches for it. Prefix
-- rules that were never written are not known either. (The flag is 'ready2': the script
-- shipped before lists read 'ready', and a dialer still running it must find none, since it
-- knows neither named lists nor prefix rules: it answers "unknown", and the dialer asks the
-- API.)
if meta[1] ~= '1' or not meta[3] or not meta[4] or meta[5] ~= run_id or not meta[6] then
  return {-1, 0}
end
-- every list asked about: its generation's bucket keys' start, and its bucket count (a list
-- not ready, or not made, is unknown whatever the DNC flag: the API then says it is unknown)
local bases, counts = {KEYS[2] .. meta[3] .. ':'}, {tonumber(meta[4])}
for j = 3, #KEYS, 2 do
  local list = call('HMGET', KEYS[j], 'ready2', 'gen', 'buckets', 'run_id')
  if list[1] ~= '1' or not list[2] or not list[3] or list[4] ~= run_id then
    return {-1, 0}
  end
  bases[#bases + 1] = KEYS[j + 1] .. list[2] .. ':'
  counts[#counts + 1] = tonumber(list[3])
end
if meta[2] ~= '1' then
  return {0, 1}
end
local lists = #bases
local prefix_bit = 2 ^ lists
-- the prefix rules, and the lengths they come in
local rules, lengths, seen = {}, {}, {}
for rule in string.gmatch(meta[6], '%d+') do
  rules[rule] = true
  if not seen[#rule] then
    seen[#rule] = true
    lengths[#lengths + 1] = #rule
  end
end
local digits = '%0' .. (math.floor(lists / 4) + 1) .. 'x'
local masks, values = {}, {}
for i = 1, #numbers do
  masks[i] = 0
  values[i] = tonumber(numbers[i])
end
-- each list: one SISMEMBER a number, or, for a list of few buckets (several numbers asked
-- fall in each), one SMISMEMBER a bucket
local bit = 1
for j = 1, lists do
  local count, base = counts[j], bases[j]
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
  bit = bit * 2
end
local out = {}
for i = 1, #numbers do
  local text, mask = numbers[i], masks[i]
  for k = 1, #lengths do
    if rules[sub(text, 1, lengths[k])] then
      mask = mask + prefix_bit
      break
    end
  end
  if packed then out[i] = format(digits, mask) else out[i] = mask end
end
if packed then
  return {1, 1, table.concat(out)}
end
local reply = {1, 1}
for i = 1, #out do
  reply[i + 2] = out[i]
end
return reply
