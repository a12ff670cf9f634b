-- wrk script for bench/analytics: POSTs Umami /api/send bodies for one website with a
-- browser User-Agent (so the bot check lets them through) and varied urls, and counts the
-- answers: 200s are acknowledged (committed) events. Environment: WEBSITE (uuid),
-- SEND_PATH (default /api/send; the HTTP ceiling points it at hc_testd's /echo).
local website = os.getenv("WEBSITE") or "94db1cb1-74f4-4a40-ad6c-962362670409"
local path = os.getenv("SEND_PATH") or "/api/send"
local threads = {}

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] =
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"

function setup(thread)
	table.insert(threads, thread)
end

-- The bodies repeat every 3,500 requests (the least common multiple of 500 pages, 7 refs
-- and 100 referrers): made once here, so wrk spends its time sending, not formatting.
local CYCLE = 3500

function init(args)
	n, ok, other = 0, 0, 0
	reqs = {}
	for i = 1, CYCLE do
		local page = i % 500
		local body = string.format(
			'{"type":"event","payload":{"website":"%s","hostname":"example.com","language":"en-US",'
				.. '"screen":"1920x1080","title":"Page %d","url":"https://example.com/docs/page-%d?ref=%d",'
				.. '"referrer":"https://news.example.org/item/%d"}}',
			website, page, page, i % 7, i % 100)
		reqs[i] = wrk.format(nil, path, nil, body)
	end
end

function request()
	n = n % CYCLE + 1
	return reqs[n]
end

function response(status, headers, body)
	if status == 200 then
		ok = ok + 1
	else
		other = other + 1
	end
end

function done(summary, latency, requests)
	local o, x = 0, 0
	for _, t in ipairs(threads) do
		o = o + t:get("ok")
		x = x + t:get("other")
	end
	io.write(string.format("acked %d other %d\n", o, x))
end
