"""Every provider a team holds a key for (issue 28): keyless backends
(--auth none), Azure OpenAI (api-key, deployment URLs, api-version),
unsupported endpoint groups, the catalog and proxy URLs."""
import json
import time

from common import header, jbody

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
