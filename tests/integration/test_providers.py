"""Every provider a team holds a key for (issue 28): keyless backends
(--auth none), Azure OpenAI (api-key, deployment URLs, api-version),
unsupported endpoint groups, the catalog and proxy URLs."""
import json
import time

from common import header, jbody, wait_until

OAI = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
AZURE_KEY = "azure-upstream-SECRET-9f8e"


def _only_table_backends(env):
    """No legacy default backend: only the rows of the backends table."""
    for k in ("RELAY_OPENAI_URL", "RELAY_OPENAI_BASE_URL", "RELAY_ANTHROPIC_URL",
              "RELAY_ANTHROPIC_BASE_URL"):
        env.settings[k] = None


def _add(env, name, *args, key=None):
    a = ["backend", "add", name] + [str(x) for x in args]
    if key is not None:
        a += ["--key", "-"]
    r = env.relayctl(*a, input=(key + "\n") if key is not None else None)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def _restart(env):
    """Fresh relay processes: none holds a copy of another test's backends
    (a process rereads the table at most every 2 s)."""
    env.stop_lighttpd()
    env.start_lighttpd()


def _post(env, path, body, key, headers=None):
    h = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
    h.update(headers or {})
    return env.http(env.lighttpd_url + path, method="POST",
                    body=body if isinstance(body, bytes) else jbody(body), headers=h)


def _posts(env, up):
    return [x for x in env.mock_requests_at(up) if x["method"] == "POST"]


def test_keyless_backend_sends_no_credential_header(env):
    """--auth none: nothing that looks like a key goes upstream (before:
    relayctl exited 2 "--auth takes bearer or x-api-key", and a keyless
    backend sent an empty "Authorization: Bearer ")."""
    _only_table_backends(env)
    up = env.start_extra_mock("keyless")
    env.mock_reset_at(up)
    r = env.relayctl("backend", "add", "local", "--preset", "vllm", "--url", up + "/v1",
                     "--auth", "none", "--key", "-", input="sk-should-not-be-taken\n")
    assert r.returncode == 2 and "--auth none" in r.stderr, (r.returncode, r.stderr)
    _add(env, "local", "--preset", "vllm", "--url", up + "/v1")
    assert "none" in env.sql_value("SELECT auth FROM backends WHERE name = 'local'")
    k = env.add_user("kl")
    _restart(env)
    r = _post(env, "/v1/chat/completions", OAI, k)
    assert r.status == 200, r.body
    rec = _posts(env, up)[-1]
    assert rec["path"] == "/v1/chat/completions"
    assert header(rec, "Authorization") is None, rec["headers"]
    assert header(rec, "x-api-key") is None and header(rec, "api-key") is None
    # a bearer backend without a key sends no empty "Bearer " either
    r = env.relayctl("backend", "set", "local", "--auth", "bearer")
    assert r.returncode == 0, r.stderr
    time.sleep(2.5)   # a process looks for a changed table at most every 2 s
    r = _post(env, "/v1/chat/completions", OAI, k)
    assert r.status == 200, r.body
    assert header(_posts(env, up)[-1], "Authorization") is None
    env.stop_lighttpd()


def test_azure_backend_uses_api_key_and_deployment_urls(env):
    """--preset azure: api-key header, /openai/deployments/{dep}/... with
    api-version; the fake Azure answers 401 without the key and 404 for an
    unknown deployment, as the real service does."""
    _only_table_backends(env)
    up = env.start_extra_mock("azure")
    env.mock_reset_at(up)
    # the fake is strict: no key, no version, unknown deployment
    r = env.http(up + "/openai/deployments/gpt-4o-prod/chat/completions?api-version=x",
                 method="POST", body=jbody(OAI), headers={"Content-Type": "application/json"})
    assert r.status == 401, r.status
    r = env.http(up + "/openai/deployments/gpt-4o-prod/chat/completions", method="POST",
                 body=jbody(OAI), headers={"api-key": "k"})
    assert r.status == 404, r.status
    r = env.relayctl("backend", "add", "az", "--preset", "azure")
    assert r.returncode == 2 and "--url" in r.stderr, r.stderr
    r = env.relayctl("backend", "add", "az", "--preset", "azure", "--url", up,
                     "--api-version", "bad version")
    assert r.returncode == 2 and "--api-version" in r.stderr, r.stderr
    _add(env, "az", "--preset", "azure", "--url", up, "--models", "gpt-4o,gpt-unknown",
         "--map", "gpt-4o=gpt-4o-prod", key=AZURE_KEY)
    k = env.add_user("az")
    _restart(env)
    r = _post(env, "/v1/chat/completions", OAI, k)
    assert r.status == 200, r.body
    assert r.json()["choices"][0]["message"]["role"] == "assistant"
    rec = _posts(env, up)[-1]
    assert rec["path"] == ("/openai/deployments/gpt-4o-prod/chat/completions"
                           "?api-version=2024-10-21"), rec["path"]
    assert header(rec, "api-key") == AZURE_KEY
    assert header(rec, "Authorization") is None
    # an unmapped model is the deployment name: the fake has none by it
    r = _post(env, "/v1/chat/completions", dict(OAI, model="gpt-unknown"), k)
    assert r.status == 404 and b"DeploymentNotFound" in r.body, (r.status, r.body)
    # the api-version is the backend's own when set
    assert env.relayctl("backend", "set", "az", "--api-version",
                        "2025-01-01-preview").returncode == 0
    time.sleep(2.5)
    r = _post(env, "/v1/chat/completions", OAI, k)
    assert r.status == 200, r.body
    assert _posts(env, up)[-1]["path"].endswith("?api-version=2025-01-01-preview")
    listing = env.relayctl("backend", "list").stdout
    assert AZURE_KEY not in listing and AZURE_KEY[-4:] in listing
    # Azure's v1 style: {resource}/openai/v1/chat/completions, no api-version
    assert env.relayctl("backend", "set", "az", "--url", up + "/openai/v1").returncode == 0
    _restart(env)
    r = _post(env, "/v1/chat/completions", OAI, k)
    assert r.status == 200, r.body
    rec = _posts(env, up)[-1]
    assert rec["path"] == "/openai/v1/chat/completions", rec["path"]
    assert header(rec, "api-key") == AZURE_KEY
    env.stop_lighttpd()


def test_unsupported_endpoint_is_a_400_in_the_routes_format(env):
    """/v1/embeddings with only an Anthropic backend: the seed's
    UNSUPPORTED_ENDPOINT 400 in OpenAI's error shape (before: 500
    "configuration error: openai_url is not set"); a backend whose preset
    has no embeddings (groq) is not sent one either."""
    _only_table_backends(env)
    up = env.start_extra_mock("unsup")
    env.mock_reset_at(up)
    _add(env, "ant", "--preset", "anthropic-compatible", "--url", up, key="sk-ant-x")
    k = env.add_user("un")
    _restart(env)
    r = _post(env, "/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi"}, k)
    assert r.status == 400, (r.status, r.body)
    err = r.json()["error"]
    assert err["code"] == "UNSUPPORTED_ENDPOINT" and "embeddings" in err["message"], err
    _add(env, "gq", "--preset", "groq", "--url", up + "/v1", "--models", "llama-*",
         key="gsk-x")
    _restart(env)
    r = _post(env, "/v1/embeddings", {"model": "llama-embed", "input": "hi"}, k)
    assert r.status == 400, (r.status, r.body)
    err = r.json()["error"]
    assert err["code"] == "UNSUPPORTED_ENDPOINT" and "gq" in err["message"], err
    assert not _posts(env, up), "nothing went upstream"
    # chat on the same backend passes through
    r = _post(env, "/v1/chat/completions", dict(OAI, model="llama-3"), k)
    assert r.status == 200, r.body
    env.stop_lighttpd()   # leave no process with these backends cached


ANT_MSG = {"model": "claude-sonnet-4", "max_tokens": 64,
           "messages": [{"role": "user", "content": "hi"}]}
GROUPS = {"chat", "messages", "responses", "embeddings", "completions", "models",
          "count_tokens", "gemini"}


def _seed_err(r, status, code):
    assert r.status == status, (r.status, r.body)
    e = r.json()
    assert e["error_code"] == code, e
    assert set(e) == {"error_code", "message", "provider", "endpoint_group", "request_id",
                      "docs_url"}, e
    return e


def test_catalog_lists_the_presets_in_the_seeds_shape(env):
    """GET /api/catalog, no key: every preset with id, protocol, authType,
    defaultBaseUrl, endpointSupport, docsUrl (before: 404)."""
    env.start_lighttpd()
    r = env.http(env.lighttpd_url + "/api/catalog")
    assert r.status == 200, (r.status, r.body[:300])
    assert r.headers.get("content-type", "").startswith("application/json")
    prov = {p["id"]: p for p in r.json()["providers"]}
    for pid in ("openai", "anthropic", "azure", "gemini", "minimax", "deepseek", "moonshot",
                "zhipu", "qwen", "volcengine", "siliconflow", "qianfan", "openrouter", "groq",
                "mistral", "xai", "together", "fireworks", "ollama", "vllm",
                "openai-compatible"):
        p = prov[pid]
        assert {"id", "protocol", "authType", "defaultBaseUrl", "endpointSupport",
                "docsUrl"} <= set(p), p
        assert set(p["endpointSupport"]) == GROUPS, p
        assert set(p["endpointSupport"].values()) <= {"translate", "passthrough",
                                                      "unsupported"}, p
    assert prov["azure"]["authType"] == "azure" and prov["ollama"]["authType"] == "none"
    assert prov["anthropic"]["protocol"] == "anthropic"
    assert prov["anthropic"]["authType"] == "x-api-key"
    assert prov["openai"]["defaultBaseUrl"] == "https://api.openai.com/v1"
    assert prov["groq"]["endpointSupport"]["embeddings"] == "unsupported"
    # the same table relayctl shows
    assert "azure" in env.relayctl("backend", "presets").stdout
    r = env.http(env.lighttpd_url + "/api/catalog", method="POST", body=b"{}")
    _seed_err(r, 405, "METHOD_NOT_ALLOWED")


def test_generate_url_and_proxy_url_through_the_door(env):
    """POST /api/generate-url (the member's key) -> /proxy/{token}/... works
    as a base URL with no key header, admitted, limited and metered as the
    member, translated to an OpenAI-only backend; the token is stored only
    hashed and never logged; every seed error code of these routes."""
    _only_table_backends(env)
    up = env.start_extra_mock("proxy-oa")
    env.mock_reset_at(up)
    _add(env, "oa", "--preset", "openai-compatible", "--url", up + "/v1", "--mode",
         "translate", "--models", "claude-*,gpt-*", key="sk-oa-proxy-upstream")
    k = env.add_user("px", daily_requests=3)
    _restart(env)
    gen = env.lighttpd_url + "/api/generate-url"
    body = {"version": 2, "source": {"protocol": "anthropic"}, "endpoints": {"mode": "auto"}}
    _seed_err(env.http(gen, method="POST", body=jbody(body)), 400, "MISSING_TOKEN")
    _seed_err(env.http(gen, method="POST", body=jbody(body),
                       headers={"Authorization": "Bearer sk-not-a-key"}), 401, "INVALID_TOKEN")
    _seed_err(_post(env, "/api/generate-url", b"{not json", k), 400, "INVALID_JSON")
    _seed_err(_post(env, "/api/generate-url", {"version": 2, "source": {}}, k), 400,
              "INVALID_JSON")
    byok = dict(body, target={"provider": "groq", "baseUrl": "http://127.0.0.1:1/",
                              "auth": {"type": "bearer", "token": "gsk"}})
    e = _seed_err(_post(env, "/api/generate-url", byok, k), 400, "INVALID_JSON")
    assert "bring-your-own-key" in e["message"]
    _seed_err(env.http(gen), 405, "METHOD_NOT_ALLOWED")
    r = _post(env, "/api/generate-url", body, k)
    assert r.status == 200, r.body
    out = r.json()
    url = out["proxyUrl"]
    assert url.startswith(env.lighttpd_url + "/proxy/") or "/proxy/" in url, url
    assert out["snippets"]["proxyUrl"] == url and "ANTHROPIC_BASE_URL=" in \
        out["snippets"]["envBlock"] and isinstance(out["snippets"]["notes"], list)
    token = url.rsplit("/proxy/", 1)[1]
    purl = env.lighttpd_url + "/proxy/" + token
    # stored hashed only
    assert env.sql_value("SELECT COUNT(*) FROM proxy_tokens WHERE token_hash ="
                         " UNHEX(SHA2('%s', 256))" % token) == "1"
    assert env.sql_value("SELECT COUNT(*) FROM proxy_tokens WHERE token_hash = '%s'"
                         " OR key_sealed LIKE '%%%s%%'" % (token, k[-12:])) == "0"
    # Claude Code's way: base URL = the proxy URL, no relay key header
    h = {"Content-Type": "application/json", "anthropic-version": "2023-06-01",
         "x-api-key": "proxy-url"}
    r = env.http(purl + "/v1/messages", method="POST", body=jbody(ANT_MSG), headers=h)
    assert r.status == 200, r.body
    assert r.json()["type"] == "message", r.json()
    rec = _posts(env, up)[-1]
    assert rec["path"] == "/v1/chat/completions"
    assert header(rec, "Authorization") == "Bearer sk-oa-proxy-upstream"
    # metered as the member (the row may be written just after the answer)
    wait_until(lambda: env.sql_value(
        "SELECT COUNT(*) FROM request_log l JOIN users u ON u.id = l.user_id"
        " WHERE u.name = 'px' AND l.http_status = 200") == "1",
        timeout=30 * env.timeout_factor, what="the proxied request's row")
    # the seed's codes on the proxy route
    _seed_err(env.http(env.lighttpd_url + "/proxy/", method="POST", body=jbody(ANT_MSG),
                       headers=h), 400, "MISSING_TOKEN")
    bad = "A" * 43
    _seed_err(env.http(env.lighttpd_url + "/proxy/%s/v1/messages" % bad, method="POST",
                       body=jbody(ANT_MSG), headers=h), 401, "INVALID_TOKEN")
    _seed_err(env.http(purl + "/v1/messages", method="POST", body=b"{nope", headers=h),
              400, "INVALID_JSON")
    e = _seed_err(env.http(purl + "/v1/messages", method="POST",
                           body=jbody(dict(ANT_MSG, model="mistral-large")), headers=h),
                  400, "UNSUPPORTED_ENDPOINT")   # no backend speaks or translates it
    # the member's daily limit (3: two used) holds on the proxy URL
    r = env.http(purl + "/v1/messages", method="POST", body=jbody(ANT_MSG), headers=h)
    assert r.status == 200, r.body
    e = _seed_err(env.http(purl + "/v1/messages", method="POST", body=jbody(ANT_MSG),
                           headers=h), 429, "RATE_LIMITED")
    assert e["endpoint_group"] == "messages"
    # revoking the member's key kills the URL
    assert env.relayctl("key", "revoke", k).returncode == 0
    _seed_err(env.http(purl + "/v1/messages", method="POST", body=jbody(ANT_MSG),
                       headers=h), 401, "INVALID_TOKEN")
    # the token is in no log
    env.stop_lighttpd()
    assert token not in env.logs(lines=100000), "a proxy token was logged"


def test_proxy_url_bound_to_a_backend_with_a_forced_model(env):
    """target.provider binds the URL to one backend (a model it does not
    serve: UNSUPPORTED_ENDPOINT), model.mode force rewrites only the model."""
    _only_table_backends(env)
    up = env.start_extra_mock("proxy-bound")
    env.mock_reset_at(up)
    _add(env, "oa2", "--preset", "openai-compatible", "--url", up + "/v1", "--models",
         "gpt-*", key="sk-oa2")
    _add(env, "other", "--preset", "openai-compatible", "--url", up + "/v2", "--models",
         "llama-*", key="sk-other")
    k = env.add_user("pb")
    _restart(env)
    e = _seed_err(_post(env, "/api/generate-url", {"source": {"protocol": "openai"},
                                                    "target": {"provider": "nope"}}, k),
                  400, "INVALID_JSON")
    assert "target.provider" in e["message"]
    r = _post(env, "/api/generate-url", {"version": 2, "source": {"protocol": "openai"},
                                         "target": {"provider": "oa2"},
                                         "model": {"mode": "force", "force": "gpt-forced"}}, k)
    assert r.status == 200, r.body
    assert "OPENAI_BASE_URL=" in r.json()["snippets"]["envBlock"]
    purl = env.lighttpd_url + "/proxy/" + r.json()["proxyUrl"].rsplit("/proxy/", 1)[1]
    h = {"Content-Type": "application/json"}
    r = env.http(purl + "/v1/chat/completions", method="POST", body=jbody(OAI), headers=h)
    assert r.status == 200, r.body
    sent = json.loads(_posts(env, up)[-1]["body"])
    assert sent["model"] == "gpt-forced", env.sql("SELECT model_force, backend FROM proxy_tokens")
    assert sent["model"] == "gpt-forced" and sent["messages"] == OAI["messages"], sent
    r = _post(env, "/api/generate-url", {"source": {"protocol": "openai"},
                                         "target": {"provider": "oa2"}}, k)
    purl = env.lighttpd_url + "/proxy/" + r.json()["proxyUrl"].rsplit("/proxy/", 1)[1]
    n = len(_posts(env, up))
    e = _seed_err(env.http(purl + "/v1/chat/completions", method="POST",
                           body=jbody(dict(OAI, model="llama-3")), headers=h),
                  400, "UNSUPPORTED_ENDPOINT")
    assert e["provider"] == "oa2" and e["endpoint_group"] == "chat", e
    assert len(_posts(env, up)) == n
    # relayctl proxy list shows the URLs without their tokens; revoke kills them
    token = purl.rsplit("/proxy/", 1)[1]
    r = env.relayctl("proxy", "list")
    assert r.returncode == 0 and "pb" in r.stdout and token not in r.stdout, r.stdout
    r = env.relayctl("proxy", "revoke", "pb")
    assert r.returncode == 0 and "2 proxy URL(s)" in r.stdout, (r.stdout, r.stderr)
    _seed_err(env.http(purl + "/v1/chat/completions", method="POST", body=jbody(OAI),
                       headers=h), 401, "INVALID_TOKEN")
    assert env.relayctl("proxy", "revoke").returncode == 2
    env.stop_lighttpd()


AWS_KEY = "AKIDRELAYTEST:relay/Test+Secret/Key0123456789abcdef"
BEDROCK_ID = "anthropic.claude-3-5-sonnet-20241022-v2:0"


def _botocore_signed(url, body, secret):
    """The request as botocore (AWS's own SDK core) signs it."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    r = AWSRequest(method="POST", url=url, data=body,
                   headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("AKIDRELAYTEST", secret), "bedrock", "us-east-1").add_auth(r)
    return dict(r.prepare().headers.items())


def test_bedrock_backend_signs_with_sigv4(env):
    """--preset bedrock (--auth aws): InvokeModel on /model/{id}/invoke with
    Bedrock's body (no model, anthropic_version bedrock-2023-05-31), signed
    with SigV4; the fake recomputes the signature as AWS does (checked
    first against botocore's signing) and refuses a wrong secret."""
    _only_table_backends(env)
    up = env.start_extra_mock("bedrock")
    env.mock_reset_at(up)
    url = up + "/model/%s/invoke" % BEDROCK_ID.replace(":", "%3A")
    body = jbody({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5,
                  "messages": [{"role": "user", "content": "hi"}]})
    # the fake agrees with AWS's SDK, and tells a wrong secret
    r = env.http(url, method="POST", body=body,
                 headers=_botocore_signed(url, body, AWS_KEY.split(":", 1)[1]))
    assert r.status == 200, r.body
    r = env.http(url, method="POST", body=body, headers=_botocore_signed(url, body, "wrong"))
    assert r.status == 403 and b"signature" in r.body, r.body
    r = env.relayctl("backend", "add", "bd", "--preset", "bedrock", "--url", up,
                     "--key", "-", input="no-colon-key\n")
    assert r.returncode == 2 and "ACCESS_KEY_ID" in r.stderr, r.stderr
    r = env.relayctl("backend", "add", "bd", "--preset", "bedrock", "--url", up,
                     "--key", "-", input=AWS_KEY + "\n")
    assert r.returncode == 2 and "--region" in r.stderr, r.stderr
    _add(env, "bd", "--preset", "bedrock", "--url", up, "--region", "us-east-1",
         "--models", "claude-*", "--map", "claude-3-5-sonnet*=" + BEDROCK_ID, key=AWS_KEY)
    k = env.add_user("bd")
    _restart(env)
    msg = {"model": "claude-3-5-sonnet-latest", "max_tokens": 5,
           "messages": [{"role": "user", "content": "hi"}]}
    r = _post(env, "/v1/messages", msg, k, headers={"anthropic-version": "2023-06-01"})
    assert r.status == 200, r.body
    assert r.json()["content"][0]["text"] == "hello from bedrock"
    rec = _posts(env, up)[-1]
    assert rec["path"] == "/model/anthropic.claude-3-5-sonnet-20241022-v2%3A0/invoke"
    sent = json.loads(rec["body"])
    assert "model" not in sent and sent["anthropic_version"] == "bedrock-2023-05-31"
    assert sent["messages"] == msg["messages"]
    assert header(rec, "x-api-key") is None
    assert AWS_KEY.split(":")[1] not in json.dumps(rec["headers"])
    # metered from Bedrock's usage, on the member
    wait_until(lambda: env.sql("SELECT prompt_tokens, completion_tokens, backend FROM"
                               " request_log") == [["12", "5", "bd"]],
               timeout=30 * env.timeout_factor, what="the Bedrock request's row")
    # a wrong secret: the fake's 403 reaches the client, not a 200
    r = env.relayctl("backend", "set", "bd", "--key", "-", input="AKIDRELAYTEST:wrong\n")
    assert r.returncode == 0, r.stderr
    _restart(env)
    r = _post(env, "/v1/messages", msg, k, headers={"anthropic-version": "2023-06-01"})
    assert r.status == 403, (r.status, r.body)
    # streaming (event-stream framing) is not done yet: said, not a hang
    r = _post(env, "/v1/messages", dict(msg, stream=True), k,
              headers={"anthropic-version": "2023-06-01"})
    assert r.status >= 400, (r.status, r.body[:200])
    listing = env.relayctl("backend", "list").stdout
    assert "wrong" not in listing and "Secret" not in listing
    env.stop_lighttpd()


def test_proxy_routes_through_both_shipped_web_servers(env):
    """apache.conf and lighttpd.conf send /api/catalog, /api/generate-url
    and /proxy/{token}/... to the relay (JSON, never an HTML page); a proxy
    URL works through each, with the default backend."""
    k = env.add_user("web")
    for server in ("lighttpd", "apache"):
        port = env.start_lighttpd() if server == "lighttpd" else env.start_apache()
        base = "http://127.0.0.1:%d" % port
        r = env.http(base + "/api/catalog")
        assert r.status == 200 and r.json()["providers"], (server, r.status, r.body[:200])
        r = env.http(base + "/api/generate-url", method="POST",
                     body=jbody({"source": {"protocol": "openai"}}),
                     headers={"Authorization": "Bearer " + k,
                              "Content-Type": "application/json"})
        assert r.status == 200, (server, r.status, r.body[:300])
        tok = r.json()["proxyUrl"].rsplit("/proxy/", 1)[1]
        r = env.http(base + "/proxy/%s/v1/chat/completions" % tok, method="POST",
                     body=jbody(dict(OAI, model="gpt-test")),
                     headers={"Content-Type": "application/json"})
        assert r.status == 200 and r.json()["choices"], (server, r.status, r.body[:300])
        for path in ("/proxy", "/proxy/", "/proxy/x/v1/models"):
            r = env.http(base + path)
            assert r.status in (400, 401), (server, path, r.status, r.body[:200])
            assert r.json()["error_code"] in ("MISSING_TOKEN", "INVALID_TOKEN"), \
                (server, path, r.body)
        r = env.http(base + "/proxy/%s/v1/models" % tok)
        assert r.status == 200 and r.json()["data"] is not None, (server, r.body[:200])
        r = env.http(base + "/proxy/%s/v1/nowhere" % tok)
        assert r.status == 404 and r.json()["error_code"] == "NOT_FOUND", (server, r.body)
    env.stop_apache()


def test_console_api_adds_keyless_azure_and_bedrock_backends(env):
    """The console's JSON API takes the new auth types (the same checks as
    relayctl): none, azure with an api-version, aws with a region; a clear
    400 for bad input; the catalog's presets are offered."""
    from test_console import ADMIN, ADMIN_PW, Client, lighttpd, make_admin, ok
    from common import assert_error
    up = env.start_extra_mock("console-prov")
    base = lighttpd(env)
    make_admin(env)
    a = Client(env, base)
    a.login(ADMIN, ADMIN_PW)
    names = {p["name"] for p in ok(a.req("GET", "/api/v1/admin/backends/presets"))}
    assert {"azure", "bedrock", "ollama", "vllm"} <= names, names
    ok(a.req("POST", "/api/v1/admin/backends", {"name": "local", "preset": "ollama",
                                                "url": up + "/v1"}), 201)
    ok(a.req("POST", "/api/v1/admin/backends", {"name": "az", "preset": "azure", "url": up,
                                                "key": AZURE_KEY,
                                                "api_version": "2025-01-01-preview"}), 201)
    ok(a.req("POST", "/api/v1/admin/backends", {"name": "bd", "preset": "bedrock",
                                                "url": up, "region": "eu-west-1",
                                                "key": AWS_KEY}), 201)
    assert env.sql("SELECT name, auth, api_version, region FROM backends ORDER BY id") == [
        ["local", "none", None, None], ["az", "azure", "2025-01-01-preview", None],
        ["bd", "aws", None, "eu-west-1"]]
    assert_error(a.req("POST", "/api/v1/admin/backends", {"name": "x", "preset": "bedrock",
                                                          "url": up, "key": "nocolon",
                                                          "region": "eu-west-1"}), 400)
    assert_error(a.req("POST", "/api/v1/admin/backends", {"name": "x", "format": "openai",
                                                          "url": up, "auth": "kerberos"}), 400)
    assert_error(a.req("POST", "/api/v1/admin/backends", {"name": "x", "preset": "ollama",
                                                          "url": up, "key": "sk-x"}), 400)
    rows = json.dumps(ok(a.req("GET", "/api/v1/admin/backends")))
    assert AZURE_KEY not in rows and "Secret" not in rows
