"""The console is closed to everyone without a session, and a session is hard to misuse.

* no account yet: the console is closed and the login page says how to make one;
* every page and every action without a session: a page redirects to the login,
  an htmx call answers 401; a post without the session's CSRF token: 403, nothing done;
* ten wrong passwords close the login for that account, and for that address, also
  to the right password, until the window has passed (the console's clock, moved by hand);
* the session cookie is HttpOnly, SameSite=Lax, path /console, Secure over HTTPS or when
  configured; logging out and idling too long end the session on the server;
* a customer called ``<script>alert(1)</script>`` is shown as text; no token, no cookie
  key appears on any page; /healthz and /metrics of ``serve`` need no session as before.
"""

from __future__ import annotations

import re

import pytest

from reconciler.console.app import PREFIX
from state.console_tables import ConsoleTables

from .conftest import PASSWORD, ConsoleWorld, csrf_of, customer, make_console

LOGIN = f"{PREFIX}/login"


def _paths(world: ConsoleWorld) -> list[tuple[str, str]]:
    """Every guarded route of the console as (method, path), path parameters filled."""
    out = []
    for route in world.console.app.routes:
        path = re.sub(r"\{[^}]+\}", "C1", route.path)  # type: ignore[attr-defined]
        if path.startswith(("/login", "/static")):
            continue
        for method in sorted(route.methods or ()):  # type: ignore[attr-defined]
            if method != "HEAD":
                out.append((method, path))
    return out


async def test_no_account_means_closed_and_says_how_to_open(console_world: ConsoleWorld):
    async with console_world.client() as browser:
        home = await browser.get("/")
        assert home.status_code == 303
        assert home.headers["location"] == f"{LOGIN}?next=/console/"
        page = await browser.get("/login")
        assert "kleansync admin add-user" in page.text
        assert 'name="password"' not in page.text  # no form to guess at
        tried = await browser.post("/login", data={"name": "anna", "password": "x" * 12})
        assert tried.status_code == 403


async def test_every_page_and_action_without_session_is_refused(console_world: ConsoleWorld):
    console_world.add_user()
    paths = _paths(console_world)
    assert ("GET", "/") in paths and ("POST", "/logout") in paths
    async with console_world.client() as browser:
        for method, path in paths:
            plain = await browser.request(method, path, data={"csrf": "x"})
            if path.startswith("/api/"):
                assert plain.status_code == 401, (method, path)
                continue
            assert plain.status_code == 303, (method, path)
            assert plain.headers["location"].startswith(LOGIN), (method, path)
            htmx = await browser.request(method, path, headers={"HX-Request": "true"})
            assert htmx.status_code == 401, (method, path)
        api = await browser.get("/api/status")
        assert api.status_code == 401
        browser.cookies.set("ks_session", "abc.def", domain="kleansync.test", path="/console")
        assert (await browser.get("/")).status_code == 303


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    console_world: ConsoleWorld,
):
    console_world.add_user()
    async with console_world.logged_in() as browser:
        assert (await browser.get("/")).status_code == 200
        for token in (None, "wrong"):
            data = {} if token is None else {"csrf": token}
            refused = await browser.post("/logout", data=data)
            assert refused.status_code == 403
            assert (await browser.get("/")).status_code == 200  # still logged in
        page = await browser.get("/")
        done = await browser.post("/logout", data={"csrf": csrf_of(page.text)})
        assert done.status_code == 303 and done.headers["location"] == LOGIN
        assert (await browser.get("/")).status_code == 303


async def test_ten_wrong_passwords_throttle_the_account(console_world: ConsoleWorld):
    console_world.add_user()
    async with console_world.client() as browser:
        for _ in range(10):
            wrong = await console_world.login(browser, password="not-the-password")
            assert wrong.status_code == 401
            assert "Name oder Passwort ist falsch" in wrong.text
        right = await console_world.login(browser)
        assert right.status_code == 429
        assert "Zu viele falsche Passwörter" in right.text
        assert "ks_session" not in browser.cookies
        console_world.clock.advance(minutes=16)
        assert (await console_world.login(browser)).status_code == 303


async def test_ten_wrong_passwords_from_one_address_throttle_it_for_every_account(
    console_world: ConsoleWorld,
):
    console_world.add_user("anna")
    console_world.add_user("bert")
    async with console_world.client() as browser:
        for i in range(10):
            name = f"guess{i}"  # ten accounts tried once each: no account reaches ten
            assert (await console_world.login(browser, name)).status_code == 401
        assert (await console_world.login(browser, "bert")).status_code == 429


async def test_session_cookie_flags(console_world: ConsoleWorld):
    console_world.add_user()
    async with console_world.client() as browser:
        answer = await console_world.login(browser)
        cookie = _session_cookie(answer.headers.get_list("set-cookie"))
        assert "httponly" in cookie and "samesite=lax" in cookie and "path=/console" in cookie
        assert "secure" not in cookie.split(";")  # plain HTTP on loopback
    async with console_world.client("https://kleansync.test/console") as browser:
        answer = await console_world.login(browser)
        cookie = _session_cookie(answer.headers.get_list("set-cookie"))
        assert "secure" in [part.strip() for part in cookie.split(";")]
    env, clock = console_world.env, console_world.clock
    configured = ConsoleWorld(env, make_console(env, clock, secure_cookie=True), clock)
    async with configured.client() as browser:  # plain HTTP behind a TLS proxy
        form = await browser.get("/login")
        (login_cookie,) = form.headers.get_list("set-cookie")
        assert "secure" in [part.strip() for part in login_cookie.lower().split(";")]
        # The browser's side of the TLS proxy is HTTPS: it sends the Secure cookie back.
        value = login_cookie.split(";")[0].split("=", 1)[1]
        browser.cookies.set("ks_login", value, domain="kleansync.test", path="/console")
        answer = await browser.post(
            "/login", data={"csrf": csrf_of(form.text), "name": "anna", "password": PASSWORD}
        )
        cookie = _session_cookie(answer.headers.get_list("set-cookie"))
        assert "secure" in [part.strip() for part in cookie.split(";")]


def _session_cookie(headers: list[str]) -> str:
    (cookie,) = [h.lower() for h in headers if h.startswith("ks_session=")]
    return cookie


async def test_idle_timeout_and_logout_end_the_session_on_the_server(
    console_world: ConsoleWorld,
):
    console_world.add_user()
    async with console_world.logged_in() as browser:
        console_world.clock.advance(minutes=29)
        assert (await browser.get("/")).status_code == 200  # use keeps it alive
        console_world.clock.advance(minutes=31)
        idle = await browser.get("/")
        assert idle.status_code == 303 and idle.headers["location"].startswith(LOGIN)
    async with console_world.logged_in() as browser:
        stolen = browser.cookies["ks_session"]
        page = await browser.get("/")
        await browser.post("/logout", data={"csrf": csrf_of(page.text)})
    async with console_world.client() as replay:
        replay.cookies.set("ks_session", stolen, domain="kleansync.test", path="/console")
        assert (await replay.get("/")).status_code == 303
    assert ConsoleTables(console_world.env.store).user("anna") is not None


async def test_a_script_name_is_text_and_no_secret_is_ever_shown(console_world: ConsoleWorld):
    from tests.engine.conftest import K_TOKEN, S_TOKEN

    env = console_world.env
    await env.k.customers.create(customer("K-66666", company_name="<script>alert(1)</script>"))
    result = await env.sync()
    assert not result.errors
    console_world.add_user()
    key = ConsoleTables(env.store).signing_key()
    async with console_world.logged_in() as browser:
        pages = [await browser.get("/"), await browser.get(f"/runs/{result.run_id}/report")]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1].text
        for page in pages:
            assert page.status_code == 200
            assert "<script>alert(1)" not in page.text
            for secret in (K_TOKEN, S_TOKEN, key.hex(), browser.cookies["ks_session"]):
                assert secret not in page.text
            assert "script-src 'self'" in page.headers["content-security-policy"] or (
                "default-src 'none'" in page.headers["content-security-policy"]
            )


async def test_the_login_form_cannot_be_posted_from_elsewhere(console_world: ConsoleWorld):
    console_world.add_user()
    async with console_world.client() as browser:
        forged = await browser.post(
            "/login", data={"name": "anna", "password": PASSWORD, "csrf": "made-up"}
        )
        assert forged.status_code == 403
        assert "ks_session" not in browser.cookies


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/elsewhere"])
async def test_login_never_sends_the_admin_to_another_site(console_world: ConsoleWorld, target):
    console_world.add_user()
    async with console_world.client() as browser:
        token = csrf_of((await browser.get("/login")).text)
        answer = await browser.post(
            "/login", data={"csrf": token, "name": "anna", "password": PASSWORD, "next": target}
        )
        assert answer.headers["location"] == f"{PREFIX}/"
