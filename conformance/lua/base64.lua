-- Base64 (RFC 4648) for cuttle's conformance run. Plain Lua 5.1: no bit
-- operations, so 3 bytes are packed into one number and split by division.
-- Needs the string library (the endpoint's `allow_open_libs`).

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- to_base64(text): the standard alphabet, padded with "=".
function to_base64(text)
  text = tostring(text)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = string.byte(text, i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local left = #text - i + 1
    local chars = left >= 3 and 4 or left + 1 -- 1 byte: 2 chars, 2 bytes: 3
    for k = 1, 4 do
      local sextet = math.floor(n / 64 ^ (4 - k)) % 64
      out[#out + 1] = k <= chars and string.sub(ALPHABET, sextet + 1, sextet + 1) or "="
    end
  end
  return table.concat(out)
end

-- from_base64(text): the standard or the URL-safe alphabet ("-", "_"),
-- padding optional (as in a JWT). Returns nil for any other character.
function from_base64(text)
  text = string.gsub(string.gsub(tostring(text), "%-", "+"), "_", "/")
  text = string.gsub(text, "=+$", "")
  local out = {}
  local n, bits = 0, 0
  for i = 1, #text do
    local pos = string.find(ALPHABET, string.sub(text, i, i), 1, true)
    if not pos then
      return nil
    end
    n = n * 64 + (pos - 1)
    bits = bits + 6
    if bits >= 8 then
      bits = bits - 8
      local byte = math.floor(n / 2 ^ bits)
      n = n % 2 ^ bits
      out[#out + 1] = string.char(byte)
    end
  end
  return table.concat(out)
end
