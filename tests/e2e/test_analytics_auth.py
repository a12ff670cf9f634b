"""hearth analytics users, tokens and website permissions, end to end over an existing
Umami-shaped SQLite database: its own admin (admin/umami) keeps working whatever
ADMIN_PASSWORD says, the login token has Umami's layout (base64 of salt|iv|tag|AES-256-GCM
of an HS256 JWT, PBKDF2-SHA512 10000 rounds) and foreign or expired tokens are refused,
an unknown username costs a bcrypt like a wrong password, and Umami's permission rules
hold: owners, team roles (team-view-only may read, not change), view-only users, deleted
websites; plus paging, search and the create limits of Umami's schema."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import sqlite3
import statistics
import tempfile
import time
import uuid

from harness import Proc, Tap, binary, free_port
from analytics_env import ADMIN_PASSWORD, Analytics, wait_for

t = Tap()
TMP = tempfile.mkdtemp(prefix="hearth-analytics-auth-")
APP_SECRET = "auth-e2e-secret"
SECRET = hashlib.sha512(APP_SECRET.encode()).hexdigest()  # Umami's secret()
UMAMI_HASH = "$2b$10$BUli0c.muyCW1ErNJc3jL.vFRFtFJWrT8/GcR4A.sUdCznaXiqFXa"  # "umami"
DB = os.path.join(TMP, "analytics.db")
IDS = {name: str(uuid.uuid4())
       for name in ("admin", "bob", "carol", "dave", "vic", "team", "team2")}


def umami_database():
    """What an Umami install leaves: its user table with admin/umami, plus users of each
    role (all with password umami) and a team with a member and a view-only member."""
    c = sqlite3.connect(DB)
    c.execute('CREATE TABLE "user" (user_id TEXT NOT NULL PRIMARY KEY, username VARCHAR(255) '
              'NOT NULL, password VARCHAR(60) NOT NULL, role VARCHAR(50) NOT NULL, logo_url '
              'VARCHAR(2183), display_name VARCHAR(255), created_at INTEGER, updated_at INTEGER, '
              'deleted_at INTEGER)')
    now = int(time.time() * 1000)
    for name, role in (("admin", "admin"), ("bob", "user"), ("carol", "user"), ("dave", "user"),
                       ("vic", "view-only")):
        c.execute('INSERT INTO "user" (user_id, username, password, role, created_at) '
                  'VALUES (?, ?, ?, ?, ?)', (IDS[name], name, UMAMI_HASH, role, now))
    c.commit()
    c.close()


umami_database()
AN = Analytics(TMP, env={"APP_SECRET": APP_SECRET})
S = {}


def q(sql, *args):
    c = sqlite3.connect(DB, timeout=10)
    try:
        r = c.execute(sql, args).fetchall()
        c.commit()
        return r
    finally:
        c.close()


def token(user):
    if user not in S:
        S[user] = AN.login(user, "umami")
    return S[user]


def call(user, method, path, body=None):
    h = {"Authorization": "Bearer " + token(user)} if user else {}
    return AN.request(method, path, body, h)


def is_error(body, status, code):
    return isinstance(body, dict) and body.get("error", {}).get("status") == status and \
        body["error"].get("code") == code


@t.test
def existing_admin_keeps_its_password():
    status, _, body = AN.request("POST", "/api/auth/login",
                                 {"username": "admin", "password": "umami"})
    assert status == 200 and body["user"]["id"] == IDS["admin"], (status, body)
    assert body["user"]["isAdmin"] is True and body["user"]["role"] == "admin"
    status, _, body = AN.request("POST", "/api/auth/login",
                                 {"username": "admin", "password": ADMIN_PASSWORD})
    assert status == 401 and is_error(body, 401, "incorrect-username-password"), (status, body)
    assert q('SELECT count(*) FROM "user" WHERE username = \'admin\'') == [(1,)]
    # a NUL must not cut "admin\0anything" down to admin
    status, _, body = AN.request("POST", "/api/auth/login",
                                 '{"username":"admin\\u0000x","password":"umami"}',
                                 {"Content-Type": "application/json"})
    assert status == 400 and is_error(body, 400, "bad-request"), (status, body)
    # the log says why ADMIN_PASSWORD does not log in
    wait_for(lambda: "predates this password" in AN.output(), timeout=15)


def open_token(tok):
    """Umami's decrypt: base64(salt[64] | iv[16] | tag[16] | AES-256-GCM(jwt))."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    raw = base64.b64decode(tok)
    salt, iv, tag, ct = raw[:64], raw[64:80], raw[80:96], raw[96:]
    key = hashlib.pbkdf2_hmac("sha512", SECRET.encode(), salt, 10000, 32)
    return AESGCM(key).decrypt(iv, ct + tag, None).decode()


def seal_token(payload):
    """Umami's createSecureToken(payload, secret()) with jsonwebtoken's HS256."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")
    head = b64u(b'{"alg":"HS256","typ":"JWT"}') + b"." + b64u(json.dumps(payload).encode())
    sig = b64u(hmac.new(SECRET.encode(), head, hashlib.sha256).digest())
    jwt = head + b"." + sig
    salt, iv = os.urandom(64), os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha512", SECRET.encode(), salt, 10000, 32)
    sealed = AESGCM(key).encrypt(iv, jwt, None)
    return base64.b64encode(salt + iv + sealed[-16:] + sealed[:-16]).decode()


@t.test
def login_token_has_umamis_layout():
    jwt = open_token(token("bob"))
    head, payload, _ = jwt.split(".")
    assert json.loads(base64.urlsafe_b64decode(head + "==")) == {"alg": "HS256", "typ": "JWT"}
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert list(claims) == ["userId", "role", "iat"], claims
    assert claims["userId"] == IDS["bob"] and claims["role"] == "user"
    assert abs(claims["iat"] - time.time()) < 60
    # a token minted the way Umami (or api-client 0.80) mints it is accepted
    status, _, body = AN.request("POST", "/api/auth/verify", headers={
        "Authorization": "Bearer " + seal_token({"userId": IDS["carol"], "iat": int(time.time())})})
    assert status == 200 and body["id"] == IDS["carol"] and body["username"] == "carol", body


@t.test
def foreign_expired_and_tampered_tokens_are_refused():
    now = int(time.time())
    bad = [seal_token({"userId": IDS["bob"], "iat": now, "exp": now - 10}),  # expired
           seal_token({"userId": IDS["bob"], "iat": now, "nbf": now + 3600}),  # not yet
           seal_token({"userId": str(uuid.uuid4()), "iat": now}),  # no such user
           token("bob")[:-8] + ("A" * 4 + token("bob")[-4:]),  # tampered
           "not-a-token"]
    for tok in bad:
        status, _, body = AN.request("GET", "/api/websites",
                                     headers={"Authorization": "Bearer " + tok})
        assert status == 401 and is_error(body, 401, "unauthorized"), (tok[:20], status, body)
    status, _, body = AN.request("GET", "/api/websites")
    assert status == 401 and is_error(body, 401, "unauthorized")
    # a token that expires works until then, and not after (no answer is kept for it)
    t0 = int(time.time())
    soon = seal_token({"userId": IDS["bob"], "iat": t0, "exp": t0 + 4})
    h = {"Authorization": "Bearer " + soon}
    assert AN.request("GET", "/api/websites", headers=h)[0] == 200
    time.sleep(max(0.0, t0 + 5 - time.time()))
    status, _, body = AN.request("GET", "/api/websites", headers=h)
    assert status == 401 and is_error(body, 401, "unauthorized"), (status, body)


def login_seconds(user, pw):
    start = time.monotonic()
    status, _, _ = AN.request("POST", "/api/auth/login", {"username": user, "password": pw})
    assert status == 401, status
    return time.monotonic() - start


@t.test
def unknown_username_costs_a_bcrypt_too():
    # interleaved, so that a busy moment of the machine weighs on both kinds alike
    pairs = [(login_seconds("bob", "nope"), login_seconds("nobody-%d" % i, "nope")) for i in range(5)]
    wrong_pw = statistics.median(w for w, _ in pairs)
    unknown = statistics.median(u for _, u in pairs)
    # without the dummy bcrypt an unknown name answers in about a millisecond
    assert unknown > 0.3 * wrong_pw, (unknown, wrong_pw)


def create(user, body):
    return call(user, "POST", "/api/websites", body)


@t.test
def owners_alone_see_and_change_their_websites():
    status, _, a = create("admin", {"name": "Admin site", "domain": "admin.example"})
    assert status == 200, a
    S["a"] = a["id"]
    for method, body in (("GET", None), ("POST", {"name": "Mine now"}), ("DELETE", None)):
        status, _, r = call("bob", method, "/api/websites/" + a["id"], body)
        assert status == 401 and is_error(r, 401, "unauthorized"), (method, status, r)
    assert q("SELECT name, deleted_at FROM website WHERE website_id = ?", a["id"]) == \
        [("Admin site", None)]
    status, _, lst = call("bob", "GET", "/api/websites")
    assert status == 200 and all(w["id"] != a["id"] for w in lst["data"]), lst
    # bob's own website is his to change
    status, _, b = create("bob", {"name": "Bob site", "domain": "bob.example"})
    assert status == 200 and b["userId"] == IDS["bob"], b
    status, _, r = call("bob", "POST", "/api/websites/" + b["id"], {"name": "Bob's"})
    assert status == 200 and r["name"] == "Bob's", r
    # a view-only user may not create websites
    status, _, r = create("vic", {"name": "Vic site", "domain": "vic.example"})
    assert status == 401 and is_error(r, 401, "unauthorized"), (status, r)
    assert q("SELECT count(*) FROM website WHERE name = 'Vic site'") == [(0,)]


@t.test
def team_roles_decide_who_changes_team_websites():
    q("INSERT INTO team (team_id, name) VALUES (?, 'T')", IDS["team"])
    q("INSERT INTO team (team_id, name) VALUES (?, 'T2')", IDS["team2"])
    q("INSERT INTO team_user (team_user_id, team_id, user_id, role) VALUES (?, ?, ?, "
      "'team-member')", str(uuid.uuid4()), IDS["team"], IDS["bob"])
    q("INSERT INTO team_user (team_user_id, team_id, user_id, role) VALUES (?, ?, ?, "
      "'team-view-only')", str(uuid.uuid4()), IDS["team"], IDS["carol"])
    status, _, c = create("admin", {"name": "Team site", "domain": "team.example",
                                    "teamId": IDS["team"]})
    assert status == 200 and c["teamId"] == IDS["team"] and c["userId"] is None, c
    path = "/api/websites/" + c["id"]
    status, _, r = call("carol", "GET", path)
    assert status == 200 and r["id"] == c["id"], r
    for method, body in (("POST", {"name": "Carol's"}), ("DELETE", None)):
        status, _, r = call("carol", method, path, body)
        assert status == 401 and is_error(r, 401, "unauthorized"), (method, status, r)
    assert q("SELECT name, deleted_at FROM website WHERE website_id = ?", c["id"]) == \
        [("Team site", None)]
    status, _, r = call("bob", "POST", path, {"name": "Team site 2"})
    assert status == 200 and r["name"] == "Team site 2", r
    # creating inside a team takes a role there with website:create
    status, _, r = create("bob", {"name": "In T", "domain": "t.example", "teamId": IDS["team"]})
    assert status == 200 and r["teamId"] == IDS["team"], r
    for user in ("bob", "carol"):
        status, _, r = create(user, {"name": "Sneak", "domain": "x.example",
                                     "teamId": IDS["team2"]})
        assert status == 401, (user, status, r)
    status, _, r = create("carol", {"name": "Sneak", "domain": "x.example",
                                    "teamId": IDS["team"]})
    assert status == 401, (status, r)
    assert q("SELECT count(*) FROM website WHERE name = 'Sneak'") == [(0,)]


@t.test
def deleted_websites_are_gone():
    status, _, shared = create("admin", {"name": "Shared", "domain": "s.example",
                                         "shareId": "the-slug"})
    assert status == 200 and shared["shareId"] == "the-slug", shared
    assert call("admin", "DELETE", "/api/websites/" + shared["id"])[0] == 200
    # its share link went with it: the slug is free again
    status, _, again = create("admin", {"name": "Shared 2", "domain": "s.example",
                                        "shareId": "the-slug"})
    assert status == 200 and again["shareId"] == "the-slug", (status, again)
    a = S["a"]
    status, _, r = call("admin", "DELETE", "/api/websites/" + a.upper())
    assert status == 200 and r == {"ok": True}, (status, r)
    for method, body in (("GET", None), ("POST", {"name": "Back"}), ("DELETE", None)):
        status, _, r = call("admin", method, "/api/websites/" + a, body)
        assert status == 404 and is_error(r, 404, "not-found"), (method, status, r)
    status, _, r = AN.send(a, url="/x")
    assert status == 400 and r["error"]["message"] == "Website not found.", r


@t.test
def paging_and_search():
    for name in ("50% off", "500 club", "a_c", "abc", "zzz"):
        status, _, r = create("dave", {"name": name, "domain": "p.example"})
        assert status == 200, r

    def listing(query):
        status, _, r = call("dave", "GET", "/api/websites?" + query)
        assert status == 200, (query, status, r)
        return r

    r = listing("pageSize=2&page=2")
    assert [w["name"] for w in r["data"]] == ["a_c", "abc"] and r["count"] == 5, r
    r = listing("pageSize=2&page=9")  # past the end: no rows, the count still right
    assert r["data"] == [] and r["count"] == 5 and r["page"] == 9, r
    for query in ("page=-3&pageSize=-1", "page=0&pageSize=0", "page=99999999999999",
                  "pageSize=99999999999999", "page=abc"):
        r = listing(query)
        assert r["page"] >= 1 and 1 <= r["pageSize"] <= 1000, (query, r)
    assert [w["name"] for w in listing("search=50%25")["data"]] == ["50% off"]
    assert [w["name"] for w in listing("search=a_c")["data"]] == ["a_c"]
    assert [w["name"] for w in listing("search=ZZ")["data"]] == ["zzz"]
    # bytes that are not UTF-8 and NUL: no server error, nothing matches
    for raw in ("%FF%FE", "%00", "%E2%82", "x%"):
        r = listing("search=" + raw)
        assert r["data"] == [] and r["count"] == 0, (raw, r)


@t.test
def create_limits_are_umamis():
    ok_name = "\u00e9" * 100  # 100 characters, 200 bytes: within name max(100)
    status, _, r = create("dave", {"name": ok_name, "domain": "d" * 500})
    assert status == 200 and r["name"] == ok_name, (status, r)
    for body in ({"name": "\u00e9" * 101, "domain": "x"},
                 {"name": "\U0001F600" * 51, "domain": "x"},  # 102 UTF-16 units
                 {"name": "n", "domain": "d" * 501},
                 {"name": "n"},  # domain is required
                 {"name": "n", "domain": "x", "shareId": "s" * 51},
                 {"name": "n", "domain": "x", "teamId": "nope"},
                 {"name": 5, "domain": "x"}):
        status, _, r = create("dave", body)
        assert status == 400 and is_error(r, 400, "bad-request"), (body, status, r)
    status, _, r = call("dave", "POST", "/api/websites", '{"name":"a\\u0000b","domain":"x"}')
    assert status == 400 and is_error(r, 400, "bad-request"), (status, r)
    assert q("SELECT count(*) FROM website WHERE name = 'a'") == [(0,)]


@t.test
def clients_leaving_mid_request():
    """Requests whose client goes away while bcrypt, PBKDF2 or a read is under way: the
    answer has nowhere to go and nothing may touch the gone request (ASan at the end)."""
    import socket
    now = int(time.time())
    reqs = []
    for i in range(12):
        tok = seal_token({"userId": IDS["bob"], "iat": now + i})  # new each time: PBKDF2 runs
        reqs.append("GET /api/websites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                    % tok)
        body = json.dumps({"username": "bob", "password": "wrong%d" % i})
        reqs.append("POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                    "\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        body = json.dumps({"name": "Left", "domain": "l.example"})
        reqs.append("POST /api/websites HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                    "Content-Length: %d\r\n\r\n%s" % (token("dave"), len(body), body))
    for raw in reqs:
        s = socket.create_connection(("127.0.0.1", AN.port), timeout=5)
        s.sendall(raw.encode())
        s.close()
    time.sleep(1.5)  # let the pool work and the reads finish after their clients left
    status, _, body = call("bob", "GET", "/api/websites")
    assert status == 200, (status, body)
    assert "Sanitizer" not in AN.output()


@t.test
def up_banner_says_the_existing_admin_keeps_its_password():
    """`hearth up` over a database that already has an admin: the password it generates
    on this first start cannot log that admin in, and the banner says so; over an empty
    database it shows the generated password."""
    ports = {"PROXY_WEB": "127.0.0.1:%d" % free_port(),
             "PROXY_WEBSECURE": "127.0.0.1:%d" % free_port(),
             "PROXY_API": "127.0.0.1:%d" % free_port(), "PROXY_WORKERS": "1",
             "CERTS_SOLVER": "127.0.0.1:%d" % free_port(),
             "CERTS_STATUS": "127.0.0.1:%d" % free_port(), "PORT": str(free_port()),
             "CAPTURE_HEP": "127.0.0.1:%d" % free_port(),
             "CAPTURE_HTTP": "127.0.0.1:%d" % free_port(),
             "AGENT_PROMETHEUS": "127.0.0.1:%d" % free_port(), "ADMIN_PASSWORD": "",
             "DATABASE_URL": "", "APP_SECRET": ""}
    for existing in (True, False):
        data = os.path.join(TMP, "up-%d" % existing)
        os.mkdir(data, 0o700)
        if existing:
            src, dst = sqlite3.connect(DB), sqlite3.connect(os.path.join(data, "analytics.db"))
            src.backup(dst)
            dst.close()
            src.close()
        with Proc([binary("hearth"), "up", "--data", data], env=ports) as up:
            wait_for(lambda: "is up (data in" in up.output() or up.poll() is not None, 30)
            assert up.stop(signal.SIGTERM) == 0, up.output()[-3000:]
            out = up.output()
        with open(os.path.join(data, "analytics-admin-password")) as f:
            generated = f.read().strip()
        if existing:
            assert "login admin with the password the database's admin already had" in out, out
            assert generated not in out, out
        else:
            assert "login admin / %s" % generated in out, out


@t.test
def stops_cleanly():
    code = AN.stop()
    out = AN.output()
    assert code == 0 and "Sanitizer" not in out and "runtime error" not in out, \
        "exit %s\n%s" % (code, out[-4000:])


def teardown():
    AN.__exit__(None, None, None)
    shutil.rmtree(TMP, ignore_errors=True)


t.run(cleanup=teardown)
