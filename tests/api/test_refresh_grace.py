"""Two tabs refreshing at once, the grace window, and cookie tossing, on the real PostgreSQL.

Both tabs of a browser share one cookie jar, so both may send the same refresh token at the same
moment. The one that waited behind the other's rotation gets 409 REFRESH_RACE (nothing minted,
nothing revoked) while the token was rotated less than REFRESH_GRACE_SECONDS ago and its child is
unused; anything else that presents a used token is reuse and revokes the family.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from app.core.security import token_digest
from app.models import EmailToken, RefreshToken, User
from app.services.auth import force_password_change
from tests.helpers import STRONG_PASSWORD, Browser, build, fast_settings, unique_email

TABS = 4
TWO_TAB_TRIALS = 20
REVOCATION_TRIALS = 25


@pytest.fixture
def env(settings):
    config = fast_settings(settings, rate_limit_scale=1000)
    app, clock, outbox = build(config)

    class Env:
        pass

    e = Env()
    e.settings, e.app, e.clock, e.outbox = config, app, clock, outbox
    e.browser = lambda **kw: Browser(app, config, **kw)
    return e


def signed_in(env, email=None):
    browser = env.browser()
    email = email or unique_email("grace")
    assert browser.register(email).status_code == 201
    assert browser.login(email).status_code == 200
    return browser, email


def tab_of(env, browser: Browser) -> Browser:
    """Another tab of the same browser: the same cookie jar and CSRF token."""
    tab = env.browser()
    tab.cookies = dict(browser.cookies)
    tab.csrf = browser.csrf
    return tab


def row_of(cookie: str) -> RefreshToken:
    return RefreshToken.get(RefreshToken.token_hash == token_digest(cookie))


def family_rows(family_id):
    return RefreshToken.select().where(RefreshToken.family_id == family_id)


def live_rows(family_id) -> int:
    return family_rows(family_id).where(RefreshToken.revoked_at.is_null()).count()


def code(result) -> str:
    assert result.json["success"] is False, result.text
    return result.json["error"]["code"]


def refresh_at_once(tabs: list[Browser]) -> list:
    barrier = threading.Barrier(len(tabs))
    results: list = [None] * len(tabs)

    def run(index: int) -> None:
        barrier.wait(10)
        results[index] = tabs[index].refresh()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tabs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


# ----- two tabs ---------------------------------------------------------------------------------


def test_concurrent_refreshes_of_one_token_rotate_once_and_keep_the_session(env):
    """Also the proof of rotation's lock: without it, two refreshes both read the token unused
    and both mint a child (two 200s)."""
    for _ in range(TWO_TAB_TRIALS):
        browser, _ = signed_in(env)
        shared = browser.cookies["jat_refresh"]
        family = row_of(shared).family_id
        results = refresh_at_once([tab_of(env, browser) for _ in range(TABS)])

        statuses = sorted(result.status_code for result in results)
        assert statuses == [200] + [409] * (TABS - 1), [r.text for r in results]
        for lost in (r for r in results if r.status_code == 409):
            assert code(lost) == "REFRESH_RACE"
            assert "jat_refresh" not in lost.cookies  # the shared jar keeps the winner's cookie
        assert family_rows(family).count() == 2  # the login's token and one child
        assert live_rows(family) == 2

        winner = next(r for r in results if r.status_code == 200)
        retry = tab_of(env, browser)  # a losing tab retries with the cookie the jar now holds
        retry.cookies["jat_refresh"] = winner.cookies["jat_refresh"].value
        assert retry.refresh().status_code == 200
        assert retry.request("GET", "/v1/users/me").status_code == 200


def test_a_replay_after_the_child_was_used_is_reuse(env):
    browser, _ = signed_in(env)
    first = browser.cookies["jat_refresh"]
    assert browser.refresh().status_code == 200  # first -> second
    assert browser.refresh().status_code == 200  # second is used: the client has moved on
    replay = tab_of(env, browser)
    replay.cookies["jat_refresh"] = first
    result = replay.refresh()  # still inside the grace, by the clock
    assert result.status_code == 401 and code(result) == "REFRESH_TOKEN_REUSED"
    assert live_rows(row_of(first).family_id) == 0
    assert code(browser.refresh()) == "SESSION_REVOKED"
    assert code(browser.request("GET", "/v1/users/me")) == "INVALID_TOKEN"


def test_a_replay_after_the_grace_is_reuse(env):
    browser, _ = signed_in(env)
    first = browser.cookies["jat_refresh"]
    assert browser.refresh().status_code == 200
    env.clock.advance(seconds=env.settings.refresh_grace_seconds, milliseconds=1)
    replay = tab_of(env, browser)
    replay.cookies["jat_refresh"] = first
    assert code(replay.refresh()) == "REFRESH_TOKEN_REUSED"
    assert live_rows(row_of(first).family_id) == 0
    assert code(browser.refresh()) == "SESSION_REVOKED"


def test_a_replay_just_inside_the_grace_is_a_race(env):
    browser, _ = signed_in(env)
    first = browser.cookies["jat_refresh"]
    assert browser.refresh().status_code == 200
    env.clock.advance(seconds=env.settings.refresh_grace_seconds)
    replay = tab_of(env, browser)
    replay.cookies["jat_refresh"] = first
    assert code(replay.refresh()) == "REFRESH_RACE"
    assert browser.refresh().status_code == 200


def test_a_zero_grace_turns_the_window_off(settings):
    config = fast_settings(settings, refresh_grace_seconds=0)
    app, _, _ = build(config)
    browser = Browser(app, config)
    email = unique_email("nograce")
    browser.register(email)
    browser.login(email)
    first = browser.cookies["jat_refresh"]
    assert browser.refresh().status_code == 200
    replay = Browser(app, config)
    replay.cookies, replay.csrf = {"jat_refresh": first}, browser.csrf
    assert code(replay.refresh()) == "REFRESH_TOKEN_REUSED"


def test_the_grace_never_applies_to_a_revoked_family(env):
    browser, _ = signed_in(env)
    first = browser.cookies["jat_refresh"]
    assert browser.refresh().status_code == 200
    assert browser.request("POST", "/v1/auth/logout-all").status_code == 204
    replay = tab_of(env, browser)
    replay.cookies["jat_refresh"] = first
    assert code(replay.refresh()) == "SESSION_REVOKED"


def refresh_until_refused(tab: Browser, stop: threading.Event, statuses: list[int]) -> None:
    while not stop.is_set():
        statuses.append(tab.refresh().status_code)
        if statuses[-1] == 401:
            return


def test_the_grace_and_a_concurrent_revocation_leave_no_survivor(env):
    """A tab replays a just-rotated token (409s) while the other tab rotates on and the owner
    signs out everywhere; once logout-all has answered nothing of the family works, whether
    logout-all or reuse detection ended it."""
    races = 0
    for _ in range(REVOCATION_TRIALS):
        browser, _ = signed_in(env)
        first = browser.cookies["jat_refresh"]
        family = row_of(first).family_id
        assert browser.refresh().status_code == 200
        racing, rotating = tab_of(env, browser), tab_of(env, browser)
        racing.cookies["jat_refresh"] = first
        stop = threading.Event()
        racing_statuses: list[int] = []
        threads = [
            threading.Thread(target=refresh_until_refused, args=(racing, stop, racing_statuses)),
            threading.Thread(target=refresh_until_refused, args=(rotating, stop, [])),
        ]
        for thread in threads:
            thread.start()
        try:
            # 204, or 401 when the racing tab's replay fell outside the grace (the rotating tab
            # had moved on twice) and reuse detection revoked the family first: either way the
            # family must be dead once logout-all has answered.
            assert browser.request("POST", "/v1/auth/logout-all").status_code in (204, 401)
            survivors = live_rows(family)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert survivors == 0
        assert live_rows(family) == 0
        assert 200 not in racing_statuses  # the replayed token never minted anything
        races += racing_statuses.count(409)
        for tab in (racing, rotating, browser):
            assert tab.refresh().status_code == 401
            assert tab.request("GET", "/v1/users/me").status_code == 401
    assert races, "the replayed token never met the grace: the trials did not race"


# ----- reset links die with the password and with logout-all ------------------------------------


def reset_token(env, email: str) -> str:
    asked = env.browser().request("POST", "/v1/auth/password-reset", json={"email": email})
    assert asked.status_code == 202
    return env.outbox.token_for(email)


def confirm(env, token: str):
    return env.browser().request(
        "POST",
        "/v1/auth/password-reset/confirm",
        json={"token": token, "new_password": "reset-after-the-fact-1"},
    )


def test_a_password_change_ends_open_reset_links(env):
    browser, email = signed_in(env)
    token = reset_token(env, email)
    changed = browser.request(
        "POST",
        "/v1/auth/password",
        json={"current_password": STRONG_PASSWORD, "new_password": "changed-meanwhile-22"},
    )
    assert changed.status_code == 204
    assert code(confirm(env, token)) == "TOKEN_INVALID"
    assert env.browser().login(email, "changed-meanwhile-22").status_code == 200


def test_logout_all_ends_open_reset_links(env):
    browser, email = signed_in(env)
    token = reset_token(env, email)
    assert browser.request("POST", "/v1/auth/logout-all").status_code == 204
    assert code(confirm(env, token)) == "TOKEN_INVALID"


def test_a_forced_change_ends_open_reset_links(env):
    _, email = signed_in(env)
    token = reset_token(env, email)
    force_password_change(email, env.clock)
    assert code(confirm(env, token)) == "TOKEN_INVALID"


def test_a_reset_ends_every_other_reset_link_but_not_verification(env):
    browser, email = signed_in(env)
    env.settings.environ["EMAIL_VERIFICATION_ENABLED"] = "true"
    assert browser.request("POST", "/v1/auth/verify-email/resend").status_code == 202
    first = reset_token(env, email)
    second = reset_token(env, email)
    assert confirm(env, second).status_code == 204
    assert code(confirm(env, first)) == "TOKEN_INVALID"
    user = User.get(User.email == email)
    open_links = EmailToken.select().where(EmailToken.user == user, EmailToken.used_at.is_null())
    assert [link.purpose for link in open_links] == ["verify_email"]


# ----- cookie tossing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [("POST", "/v1/auth/refresh"), ("POST", "/v1/auth/logout"), ("GET", "/v1/auth/csrf")],
)
def test_a_request_carrying_the_refresh_cookie_twice_is_refused(env, method, path):
    browser, _ = signed_in(env)
    ours = browser.cookies["jat_refresh"]
    planted, _ = signed_in(env)  # a live session of someone else, tossed beside ours
    for order in ((planted.cookies["jat_refresh"], ours), (ours, planted.cookies["jat_refresh"])):
        result = browser.request(
            method,
            path,
            cookies=False,
            headers={
                "Cookie": "; ".join(f"jat_refresh={value}" for value in order),
                "X-CSRF-Token": browser.csrf,
            },
        )
        assert result.status_code == 400
        assert code(result) == "REFRESH_COOKIE_DUPLICATED"
        assert "jat_refresh" not in result.cookies  # neither cookie is touched
    assert row_of(ours).used_at is None and row_of(ours).revoked_at is None
    assert browser.refresh().status_code == 200  # ours alone still works


@pytest.mark.parametrize("same_site", ["Lax", "Strict", "None"])
def test_the_clearing_cookie_matches_the_cookie_it_clears(settings, same_site):
    config = fast_settings(settings, refresh_cookie_samesite=same_site)
    app, _, _ = build(config)
    browser = Browser(app, config)
    email = unique_email("cookie")
    browser.register(email)
    set_by_login = browser.login(email).cookies["jat_refresh"]
    cleared_by_logout = browser.request(
        "POST", "/v1/auth/logout", headers={"X-CSRF-Token": browser.csrf}
    ).cookies["jat_refresh"]
    browser.cookies["jat_refresh"] = "not-a-token"
    cleared_by_401 = browser.refresh().cookies["jat_refresh"]

    for cleared in (cleared_by_logout, cleared_by_401):
        attributes = ("secure", "http_only", "path", "same_site", "domain")
        assert {a: getattr(cleared, a) for a in attributes} == {
            a: getattr(set_by_login, a) for a in attributes
        }
        assert cleared.value == ""
        assert cleared.expires < datetime.now(UTC)
    assert set_by_login.secure and set_by_login.http_only
    assert (set_by_login.path, set_by_login.same_site) == ("/v1/auth", same_site)
