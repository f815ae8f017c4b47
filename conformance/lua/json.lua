-- A small JSON codec for cuttle's conformance run: objects, arrays,
-- strings (with \uXXXX escapes of the Basic Multilingual Plane), numbers,
-- true, false and null (decoded as nil, so a hole in an array). Plain
-- Lua 5.1; needs the string and table libraries (`allow_open_libs`).

local UNESCAPE = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }
local ESCAPE = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- The UTF-8 bytes of a code point below 0x10000.
local function utf8_char(cp)
  if cp < 0x80 then
    return string.char(cp)
  elseif cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64)
  end
  return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local decode_value

local function skip_space(text, pos)
  return string.find(text, "[^ \t\r\n]", pos) or #text + 1
end

local function decode_string(text, pos)
  -- pos is just after the opening quote.
  local out = {}
  while true do
    local c = string.sub(text, pos, pos)
    if c == "" then
      error("json: unterminated string")
    elseif c == '"' then
      return table.concat(out), pos + 1
    elseif c == "\\" then
      local e = string.sub(text, pos + 1, pos + 1)
      if e == "u" then
        local hex = string.sub(text, pos + 2, pos + 5)
        if not string.find(hex, "^%x%x%x%x$") then
          error("json: bad \\u escape")
        end
        out[#out + 1] = utf8_char(tonumber(hex, 16))
        pos = pos + 6
      elseif UNESCAPE[e] then
        out[#out + 1] = UNESCAPE[e]
        pos = pos + 2
      else
        error("json: bad escape")
      end
    else
      out[#out + 1] = c
      pos = pos + 1
    end
  end
end

function decode_value(text, pos)
  pos = skip_space(text, pos)
  local c = string.sub(text, pos, pos)
  if c == "{" then
    local obj = {}
    pos = skip_space(text, pos + 1)
    if string.sub(text, pos, pos) == "}" then
      return obj, pos + 1
    end
    while true do
      if string.sub(text, pos, pos) ~= '"' then
        error("json: object key expected at " .. pos)
      end
      local key
      key, pos = decode_string(text, pos + 1)
      pos = skip_space(text, pos)
      if string.sub(text, pos, pos) ~= ":" then
        error("json: ':' expected at " .. pos)
      end
      obj[key], pos = decode_value(text, pos + 1)
      pos = skip_space(text, pos)
      c = string.sub(text, pos, pos)
      if c == "}" then
        return obj, pos + 1
      elseif c ~= "," then
        error("json: ',' or '}' expected at " .. pos)
      end
      pos = skip_space(text, pos + 1)
    end
  elseif c == "[" then
    local list, n = {}, 0
    pos = skip_space(text, pos + 1)
    if string.sub(text, pos, pos) == "]" then
      return list, pos + 1
    end
    while true do
      n = n + 1 -- counted, not #list: a null leaves a hole at its index
      list[n], pos = decode_value(text, pos)
      pos = skip_space(text, pos)
      c = string.sub(text, pos, pos)
      if c == "]" then
        return list, pos + 1
      elseif c ~= "," then
        error("json: ',' or ']' expected at " .. pos)
      end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(text, pos + 1)
  end
  for word, value in pairs({ ["true"] = true, ["false"] = false }) do
    if string.sub(text, pos, pos + #word - 1) == word then
      return value, pos + #word
    end
  end
  if string.sub(text, pos, pos + 3) == "null" then
    return nil, pos + 4
  end
  local num = string.match(text, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
  if num and tonumber(num) then
    return tonumber(num), pos + #num
  end
  error("json: unexpected character at " .. pos)
end

-- json_decode(text): the Lua value of a JSON text; raises an error on
-- anything else (trailing characters included).
function json_decode(text)
  local value, pos = decode_value(text, 1)
  if skip_space(text, pos) <= #text then
    error("json: trailing characters at " .. pos)
  end
  return value
end

local function encode_string(s)
  s = string.gsub(s, '[%c"\\]', function(c)
    return ESCAPE[c] or string.format("\\u%04x", string.byte(c))
  end)
  return '"' .. s .. '"'
end

-- json_encode(value): a table with only the keys 1..n is an array, any
-- other table an object (its keys as strings, sorted so the output is stable).
function json_encode(value)
  local t = type(value)
  if t == "nil" then
    return "null"
  elseif t == "boolean" or t == "number" then
    return tostring(value)
  elseif t == "string" then
    return encode_string(value)
  elseif t ~= "table" then
    error("json: cannot encode a " .. t)
  end
  local count = 0
  for _ in pairs(value) do
    count = count + 1
  end
  local parts = {}
  if count == #value then
    for i = 1, #value do
      parts[i] = json_encode(value[i])
    end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(value) do
    keys[#keys + 1] = tostring(k)
  end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local v = value[k]
    if v == nil then
      v = value[tonumber(k)]
    end
    parts[i] = encode_string(k) .. ":" .. json_encode(v)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end
