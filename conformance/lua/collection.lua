-- The scripts of the fixture's /lua/collection and /lua/custom_error
-- endpoints. pre_backend and post_proxy use json.lua and base64.lua (loaded
-- before this file) and the standard libraries.

-- Backend `pre`: the backend's path gets the numeric `id` claim of the
-- client's bearer token. The token is only read, not verified: this is a
-- test fixture, the gateway's JWT validator is what checks a signature.
function pre_backend(req)
  local auth = req:headers("Authorization") or ""
  local payload = string.match(auth, "^[Bb]earer%s+[^.]+%.([^.]+)%.")
  if not payload then
    custom_error("a bearer token is required", 401)
  end
  local ok, claims = pcall(json_decode, from_base64(payload) or "")
  local id = ok and type(claims) == "table" and claims.id
  -- Only an integer goes into the URL: a claim is the client's data.
  if type(id) ~= "number" or id % 1 ~= 0 then
    custom_error("the token has no numeric id claim", 400)
  end
  req:url(req:url() .. string.format("%d", id))
end

-- Proxy `post`: the collection becomes {"paths": {"1": path, ...}, "total": n},
-- numbered from 1.
function post_proxy(resp)
  local data = resp:data()
  local items = data:get("collection")
  local paths = {}
  local total = items:len()
  for i = 0, total - 1 do
    paths[tostring(i + 1)] = items:get(i):get("path")
  end
  data:del("collection")
  data:set("paths", paths)
  data:set("total", total)
end

-- Backend `pre` that always fails with a JSON message and status 418.
-- Needs no library: the endpoint does not set `allow_open_libs`.
function json_error()
  custom_error('{"msg":"I refuse to make any coffee, I am a teapot!"}', 418)
end
