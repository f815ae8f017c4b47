-- The script of the fixture's /lua/modify_response/* endpoints (their
-- backend is on the internet; no spec of the suite calls them).

-- Proxy `post`: the fields of the `source_result` group are lifted to the
-- top of the response, which is marked as decorated.
function post_proxy_decorator(resp)
  local data = resp:data()
  if not data:keyExists("source_result") then
    custom_error("the response has no source_result", 502)
  end
  local source = data:get("source_result")
  local keys = source:keys()
  for i = 0, keys:len() - 1 do
    local key = keys:get(i)
    data:set(key, source:get(key))
  end
  data:del("source_result")
  data:set("decorated", true)
end
