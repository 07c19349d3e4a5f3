"""Authentication over the API: login and its throttling, JWT checks, refresh rotation,
logout, password changes, deactivation and role changes revoking tokens, and /me."""

from __future__ import annotations

import json
import secrets
import warnings
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import func, select

from pivotal_core.audit.models import AuditEvent
from pivotal_core.authnz.models import LoginFailure, RefreshToken
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.models import Contact
from pivotal_core.testing.fixtures import TEST_PASSWORD, TEST_SECRET, ApiClient
from pivotal_core.users.models import User

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/me"
PASSWORD = "/api/v1/me/password"

PW_73_BYTES = "é" * 36 + "a"
PW_72_BYTES = "é" * 36


def count(dbsession, model, *where) -> int:
    return dbsession.scalar(select(func.count()).select_from(model).where(*where))


def failures(dbsession, key: str) -> int:
    return count(dbsession, LoginFailure, LoginFailure.key == key)


def login(testapp, email: str, password: str = TEST_PASSWORD, address: str = "127.0.0.1"):
    return testapp.post_json(
        LOGIN,
        {"email": email, "password": password},
        extra_environ={"REMOTE_ADDR": address},
        expect_errors=True,
    )


def refresh(testapp, token: str):
    return testapp.post_json(REFRESH, {"refresh_token": token}, expect_errors=True)


def me(testapp, token: str):
    return ApiClient(testapp, token).get(ME)


def access_claims(user: User, **overrides):
    now = datetime.now(UTC)
    claims = {
        "iss": "pivotal",
        "aud": "pivotal-api",
        "sub": str(user.id),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": secrets.token_hex(16),
        "typ": "access",
        "ver": user.token_version,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def sign(claims, secret: str = TEST_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)


def sign_hs512(claims) -> str:
    """Signed with the right secret but not the pinned algorithm."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return sign(claims, algorithm="HS512")


def assert_unauthorized(res):
    assert res.status_int == 401, res.text
    assert res.json["error"]["code"] == "unauthorized"
    assert res.headers["WWW-Authenticate"].startswith("Bearer")


# ---------------------------------------------------------------- login


def test_login_returns_token_pair_that_works(testapp, make_user, dbsession):
    user = make_user(Role.AGENT)
    res = login(testapp, user.email)
    assert res.status_int == 200, res.text
    body = res.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"] and body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    claims = jwt.decode(
        body["access_token"],
        TEST_SECRET,
        algorithms=["HS256"],
        audience="pivotal-api",
        issuer="pivotal",
    )
    assert claims["typ"] == "access"
    assert claims["sub"] == str(user.id)
    assert me(testapp, body["access_token"]).json["email"] == user.email
    # The refresh token is stored hashed, never as issued.
    tokens = dbsession.scalars(select(RefreshToken).where(RefreshToken.user_id == user.id)).all()
    assert len(tokens) == 1
    assert tokens[0].token_hash != body["refresh_token"]
    assert body["refresh_token"] not in tokens[0].token_hash


def test_login_email_is_normalised(testapp, make_user):
    user = make_user(Role.AGENT, email="casey@example.com")
    res = login(testapp, "  Casey@EXAMPLE.com ")
    assert res.status_int == 200, res.text
    assert me(testapp, res.json["access_token"]).json["id"] == user.id


def test_wrong_password_and_unknown_email_answer_identically(testapp, make_user, dbsession):
    user = make_user(Role.AGENT)
    inactive = make_user(Role.AGENT)
    inactive.is_active = False
    dbsession.commit()

    wrong = login(testapp, user.email, "not the password at all")
    unknown = login(testapp, "nobody-here@example.com", "not the password at all")
    disabled = login(testapp, inactive.email, TEST_PASSWORD)
    for res in (wrong, unknown, disabled):
        assert res.status_int == 401, res.text
    assert wrong.json == unknown.json == disabled.json
    assert wrong.json["error"]["message"] == "Email or password is incorrect"
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    assert "Retry-After" not in wrong.headers


def test_failed_logins_are_recorded_although_the_answer_is_an_error(testapp, make_user, dbsession):
    user = make_user(Role.AGENT)
    before = count(dbsession, LoginFailure)
    for _ in range(3):
        assert login(testapp, user.email, "wrong password!").status_int == 401
    assert login(testapp, "ghost@example.com", "wrong password!").status_int == 401
    assert failures(dbsession, f"account:{user.email}") == 3
    assert failures(dbsession, "account:ghost@example.com") == 1
    assert failures(dbsession, "address:127.0.0.1") == 4
    assert count(dbsession, LoginFailure) == before + 8
    # A success clears the account's failures (not the address's).
    assert login(testapp, user.email).status_int == 200
    assert failures(dbsession, f"account:{user.email}") == 0
    assert failures(dbsession, "address:127.0.0.1") == 4


def test_login_throttled_per_account_even_with_right_password(app, testapp, make_user, dbsession):
    limit = app.registry.settings["auth.login_max_failures_per_account"]
    assert limit == 5
    user = make_user(Role.AGENT)
    for _ in range(limit):
        assert login(testapp, user.email, "wrong password!").status_int == 401
    throttled = login(testapp, user.email, TEST_PASSWORD)
    assert throttled.status_int == 429, throttled.text
    assert throttled.json["error"]["code"] == "too_many_requests"
    assert int(throttled.headers["Retry-After"]) > 0
    assert "access_token" not in throttled.json
    # The throttled attempt itself is not counted, and no token was issued.
    assert failures(dbsession, f"account:{user.email}") == limit
    assert count(dbsession, RefreshToken, RefreshToken.user_id == user.id) == 0
    # Another account from the same address is not affected.
    other = make_user(Role.AGENT)
    assert login(testapp, other.email).status_int == 200


def test_login_throttled_for_unknown_email_the_same_way(app, testapp, make_user):
    limit = app.registry.settings["auth.login_max_failures_per_account"]
    user = make_user(Role.AGENT)
    for _ in range(limit):
        assert login(testapp, "ghost@example.com", "wrong password!").status_int == 401
        assert login(testapp, user.email, "wrong password!", address="10.0.0.2").status_int == 401
    unknown = login(testapp, "ghost@example.com", "wrong password!")
    known = login(testapp, user.email, TEST_PASSWORD, address="10.0.0.2")
    assert unknown.status_int == known.status_int == 429
    assert unknown.json == known.json
    assert unknown.headers["Retry-After"] == known.headers["Retry-After"]


def test_login_throttled_per_address_across_emails(app, testapp, make_user, dbsession):
    limit = app.registry.settings["auth.login_max_failures_per_address"]
    user = make_user(Role.AGENT)
    for n in range(limit):
        res = login(testapp, f"someone{n}@example.com", "wrong password!", address="10.9.9.9")
        assert res.status_int == 401, (n, res.text)
    assert failures(dbsession, "address:10.9.9.9") == limit
    throttled = login(testapp, user.email, TEST_PASSWORD, address="10.9.9.9")
    assert throttled.status_int == 429
    assert "Retry-After" in throttled.headers
    # The account itself is not throttled: the same user signs in from elsewhere.
    assert login(testapp, user.email, TEST_PASSWORD, address="10.9.9.10").status_int == 200


def test_throttle_window_setting_ages_out_old_failures(app, testapp, make_user, dbsession):
    limit = app.registry.settings["auth.login_max_failures_per_account"]
    user = make_user(Role.AGENT)
    old = datetime.now(UTC) - timedelta(seconds=app.registry.settings["auth.login_window"] + 60)
    dbsession.add_all(
        [LoginFailure(key=f"account:{user.email}", failed_at=old) for _ in range(limit)]
    )
    dbsession.commit()
    assert login(testapp, user.email).status_int == 200


def test_login_input_is_validated(anonymous, dbsession):
    before = count(dbsession, LoginFailure)
    res = anonymous.post(LOGIN, {"email": "a@example.com"})
    assert res.status_int == 400
    assert "password" in res.json["error"]["fields"]
    res = anonymous.post(LOGIN, body=b"{bad")
    assert res.status_int == 400
    assert "body" in res.json["error"]["fields"]
    assert count(dbsession, LoginFailure) == before


# ---------------------------------------------------------------- access tokens


def test_crafted_valid_token_is_accepted(testapp, make_user):
    """The control case: the claims built below are the ones the API accepts."""
    user = make_user(Role.AGENT)
    res = me(testapp, sign(access_claims(user)))
    assert res.status_int == 200, res.text
    assert res.json["id"] == user.id


def _bad_token(case: str, user: User, refresh_token: str) -> str:
    now = datetime.now(UTC)

    def tampered(part: str) -> str:
        head, payload, signature = sign(access_claims(user)).split(".")
        if part == "signature":
            signature = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
        else:
            forged = access_claims(user, sub=str(user.id + 1000))
            payload = jwt.utils.base64url_encode(json.dumps(forged).encode()).decode()
        return f"{head}.{payload}.{signature}"

    builders = {
        "expired": lambda: sign(
            access_claims(
                user,
                iat=int((now - timedelta(hours=2)).timestamp()),
                exp=int((now - timedelta(hours=1)).timestamp()),
            )
        ),
        "tampered signature": lambda: tampered("signature"),
        "tampered payload": lambda: tampered("payload"),
        "wrong secret": lambda: sign(access_claims(user), secret="another-secret-" + "y" * 40),
        "wrong audience": lambda: sign(access_claims(user, aud="someone-else")),
        "wrong issuer": lambda: sign(access_claims(user, iss="evil")),
        "alg none": lambda: jwt.encode(access_claims(user), None, algorithm="none"),
        "other algorithm": lambda: sign_hs512(access_claims(user)),
        "refresh as access": lambda: refresh_token,
        "missing jti": lambda: sign(access_claims(user, jti=None)),
        "missing typ": lambda: sign(access_claims(user, typ=None)),
        "missing exp": lambda: sign(access_claims(user, exp=None)),
        "missing ver": lambda: sign(access_claims(user, ver=None)),
        "old ver": lambda: sign(access_claims(user, ver=user.token_version - 1)),
        "non-numeric sub": lambda: sign(access_claims(user, sub="admin")),
        "unknown user": lambda: sign(access_claims(user, sub="987654")),
        "garbage": lambda: "not-a-jwt",
    }
    return builders[case]()


BAD_TOKEN_CASES = [
    "expired",
    "tampered signature",
    "tampered payload",
    "wrong secret",
    "wrong audience",
    "wrong issuer",
    "alg none",
    "other algorithm",
    "refresh as access",
    "missing jti",
    "missing typ",
    "missing exp",
    "missing ver",
    "old ver",
    "non-numeric sub",
    "unknown user",
    "garbage",
]


@pytest.mark.parametrize("case", BAD_TOKEN_CASES)
def test_bad_access_tokens_are_refused_and_change_nothing(case, testapp, make_user, dbsession):
    user = make_user(Role.ADMIN)
    pair = login(testapp, user.email).json
    token = _bad_token(case, user, pair["refresh_token"])
    client = ApiClient(testapp, token)

    assert_unauthorized(client.get(ME))
    contacts, events = count(dbsession, Contact), count(dbsession, AuditEvent)
    res = client.post("/api/v1/contacts", {"first_name": "Mallory", "email": "m@evil.example"})
    assert_unauthorized(res)
    assert count(dbsession, Contact) == contacts
    assert count(dbsession, AuditEvent) == events
    # The real token of the same user still works: only the bad one was refused.
    assert me(testapp, pair["access_token"]).status_int == 200


def test_expired_token_says_so(testapp, make_user):
    user = make_user(Role.AGENT)
    past = datetime.now(UTC) - timedelta(hours=1)
    token = sign(access_claims(user, iat=int(past.timestamp()) - 60, exp=int(past.timestamp())))
    res = me(testapp, token)
    assert_unauthorized(res)
    assert "expired" in res.json["error"]["message"]


def test_no_token_is_401_not_403(anonymous):
    res = anonymous.get(ME)
    assert_unauthorized(res)
    assert res.json["error"]["message"] == "Authentication required"


# ---------------------------------------------------------------- refresh


def test_refresh_rotates_and_reuse_revokes_the_family(testapp, make_user, dbsession):
    user = make_user(Role.AGENT)
    first = login(testapp, user.email).json
    second_login = login(testapp, user.email).json  # another device: its own family

    res = refresh(testapp, first["refresh_token"])
    assert res.status_int == 200, res.text
    second = res.json
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert me(testapp, second["access_token"]).status_int == 200

    res = refresh(testapp, second["refresh_token"])
    assert res.status_int == 200
    third = res.json

    # The spent first token is presented again: refused, and the family is revoked.
    reuse = refresh(testapp, first["refresh_token"])
    assert_unauthorized(reuse)
    assert_unauthorized(refresh(testapp, third["refresh_token"]))

    family = jwt.decode(first["refresh_token"], options={"verify_signature": False})["fam"]
    dbsession.expire_all()
    rows = dbsession.scalars(select(RefreshToken).where(RefreshToken.family == family)).all()
    assert len(rows) == 3
    assert all(row.revoked_at is not None for row in rows)
    # The other device's family is untouched.
    assert refresh(testapp, second_login["refresh_token"]).status_int == 200


def test_refresh_refuses_access_tokens_and_forgeries(testapp, make_user, dbsession):
    user = make_user(Role.AGENT)
    pair = login(testapp, user.email).json
    tokens = count(dbsession, RefreshToken)
    assert_unauthorized(refresh(testapp, pair["access_token"]))
    claims = jwt.decode(pair["refresh_token"], options={"verify_signature": False})
    claims["jti"] = secrets.token_hex(16)  # a validly signed token that was never issued
    assert_unauthorized(refresh(testapp, sign(claims)))
    assert_unauthorized(refresh(testapp, sign(claims, secret="x" * 40)))
    assert count(dbsession, RefreshToken) == tokens
    # None of that harmed the real token.
    assert refresh(testapp, pair["refresh_token"]).status_int == 200


# ---------------------------------------------------------------- logout and revocation


def test_logout_revokes_access_and_refresh_tokens(testapp, make_user, dbsession):
    user = make_user(Role.AGENT)
    pair = login(testapp, user.email).json
    other_device = login(testapp, user.email).json
    res = ApiClient(testapp, pair["access_token"]).post(LOGOUT)
    assert res.status_int == 200, res.text
    assert_unauthorized(me(testapp, pair["access_token"]))
    assert_unauthorized(me(testapp, other_device["access_token"]))
    assert_unauthorized(refresh(testapp, pair["refresh_token"]))
    assert_unauthorized(refresh(testapp, other_device["refresh_token"]))
    assert (
        count(
            dbsession,
            RefreshToken,
            RefreshToken.user_id == user.id,
            RefreshToken.revoked_at.is_(None),
        )
        == 0
    )
    # Signing in again works.
    assert me(testapp, login(testapp, user.email).json["access_token"]).status_int == 200


def test_logout_requires_a_token(anonymous):
    assert_unauthorized(anonymous.post(LOGOUT))


def _hash_of(dbsession, user_id: int) -> str:
    dbsession.expire_all()
    return dbsession.get(User, user_id).password_hash


def test_password_change_revokes_old_tokens(testapp, make_user):
    user = make_user(Role.AGENT)
    pair = login(testapp, user.email).json
    client = ApiClient(testapp, pair["access_token"])
    res = client.post(
        PASSWORD, {"current_password": TEST_PASSWORD, "new_password": "a brand new passphrase"}
    )
    assert res.status_int == 200, res.text
    assert_unauthorized(client.get(ME))
    assert_unauthorized(refresh(testapp, pair["refresh_token"]))
    assert login(testapp, user.email, TEST_PASSWORD).status_int == 401
    assert login(testapp, user.email, "a brand new passphrase").status_int == 200


def test_password_change_needs_the_current_password(testapp, make_user, dbsession):
    user = make_user(Role.AGENT)
    before = _hash_of(dbsession, user.id)
    pair = login(testapp, user.email).json
    client = ApiClient(testapp, pair["access_token"])
    res = client.post(
        PASSWORD, {"current_password": "not it at all", "new_password": "a brand new passphrase"}
    )
    assert res.status_int == 400
    assert "current_password" in res.json["error"]["fields"]
    assert _hash_of(dbsession, user.id) == before
    assert client.get(ME).status_int == 200


def test_password_over_72_bytes_is_refused_and_nothing_changes(testapp, make_user, dbsession):
    assert len(PW_73_BYTES.encode()) == 73
    user = make_user(Role.AGENT)
    before = _hash_of(dbsession, user.id)
    events = count(dbsession, AuditEvent)
    pair = login(testapp, user.email).json
    client = ApiClient(testapp, pair["access_token"])
    res = client.post(PASSWORD, {"current_password": TEST_PASSWORD, "new_password": PW_73_BYTES})
    assert res.status_int == 400, res.text
    fields = res.json["error"]["fields"]
    assert list(fields) == ["new_password"]
    assert "72 bytes" in fields["new_password"]
    assert _hash_of(dbsession, user.id) == before
    assert count(dbsession, AuditEvent) == events
    # Nothing was revoked and the old password still works; the long one does not.
    assert client.get(ME).status_int == 200
    assert login(testapp, user.email, TEST_PASSWORD).status_int == 200
    assert login(testapp, user.email, PW_73_BYTES).status_int == 401


def test_password_of_exactly_72_bytes_is_accepted(testapp, make_user):
    assert len(PW_72_BYTES.encode()) == 72
    user = make_user(Role.AGENT)
    client = ApiClient(testapp, login(testapp, user.email).json["access_token"])
    res = client.post(PASSWORD, {"current_password": TEST_PASSWORD, "new_password": PW_72_BYTES})
    assert res.status_int == 200, res.text
    assert login(testapp, user.email, PW_72_BYTES).status_int == 200
    # Not truncated: a different 72-byte prefix plus more does not match.
    assert login(testapp, user.email, "é" * 35 + "ab").status_int == 401


def test_admin_cannot_create_user_with_73_byte_password(admin, dbsession):
    users = count(dbsession, User)
    res = admin.post(
        "/api/v1/users", {"email": "long@example.com", "role": "agent", "password": PW_73_BYTES}
    )
    assert res.status_int == 400, res.text
    assert list(res.json["error"]["fields"]) == ["password"]
    assert count(dbsession, User) == users
    assert count(dbsession, User, User.email == "long@example.com") == 0


def test_admin_creates_user_with_72_byte_password(admin, testapp, dbsession):
    res = admin.post(
        "/api/v1/users",
        {
            "email": "Exact@Example.com",
            "role": "agent",
            "password": PW_72_BYTES,
            "full_name": "Exa Ct",
        },
    )
    assert res.status_int == 201, res.text
    assert res.json["email"] == "exact@example.com"
    assert login(testapp, "exact@example.com", PW_72_BYTES).status_int == 200


def test_deactivating_a_user_revokes_tokens_and_blocks_login(admin, testapp, make_user, dbsession):
    user = make_user(Role.AGENT)
    pair = login(testapp, user.email).json
    assert me(testapp, pair["access_token"]).status_int == 200
    res = admin.patch(f"/api/v1/users/{user.id}", {"is_active": False})
    assert res.status_int == 200, res.text
    assert res.json["is_active"] is False
    assert_unauthorized(me(testapp, pair["access_token"]))
    assert_unauthorized(refresh(testapp, pair["refresh_token"]))
    denied = login(testapp, user.email)
    assert denied.status_int == 401
    assert denied.json == login(testapp, "ghost@example.com").json
    # Reactivating lets them sign in again, but the old tokens stay dead.
    assert admin.patch(f"/api/v1/users/{user.id}", {"is_active": True}).status_int == 200
    assert_unauthorized(me(testapp, pair["access_token"]))
    assert login(testapp, user.email).status_int == 200


def test_changing_a_role_revokes_tokens(admin, testapp, make_user):
    user = make_user(Role.MANAGER)
    pair = login(testapp, user.email).json
    client = ApiClient(testapp, pair["access_token"])
    assert client.get("/api/v1/users").status_int == 200
    res = admin.patch(f"/api/v1/users/{user.id}", {"role": "agent"})
    assert res.status_int == 200, res.text
    assert_unauthorized(client.get(ME))
    assert_unauthorized(refresh(testapp, pair["refresh_token"]))
    fresh = ApiClient(testapp, login(testapp, user.email).json["access_token"])
    assert fresh.get(ME).json["role"] == "agent"
    assert fresh.get("/api/v1/users").status_int == 403


def test_other_user_changes_do_not_revoke(admin, testapp, make_user):
    user = make_user(Role.AGENT)
    token = login(testapp, user.email).json["access_token"]
    res = admin.patch(f"/api/v1/users/{user.id}", {"full_name": "Renamed Person"})
    assert res.status_int == 200
    assert me(testapp, token).json["full_name"] == "Renamed Person"


# ---------------------------------------------------------------- /me and user JSON


def test_me_returns_user_and_permissions(app, testapp, make_user):
    user = make_user(Role.AGENT, full_name="Agent Smith")
    res = me(testapp, login(testapp, user.email).json["access_token"])
    assert res.status_int == 200
    body = res.json
    assert body["id"] == user.id
    assert body["email"] == user.email
    assert body["role"] == "agent"
    assert body["full_name"] == "Agent Smith"
    assert body["is_active"] is True
    assert body["last_login_at"] is not None
    expected = app.registry["pivotal.role_permissions"]["agent"]
    assert body["permissions"] == sorted(expected)
    assert "me:read" in body["permissions"]
    assert "users:write" not in body["permissions"]


def _walk_keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_keys(item)


def test_no_password_hash_in_any_user_json(admin, testapp, dbsession):
    created = admin.post(
        "/api/v1/users",
        {"email": "hash@example.com", "role": "agent", "password": "some long password"},
    )
    assert created.status_int == 201
    user_id = created.json["id"]
    stored = dbsession.get(User, user_id).password_hash
    assert stored.startswith("$2")
    responses = [
        created,
        admin.get(ME),
        admin.get("/api/v1/users"),
        admin.get(f"/api/v1/users/{user_id}"),
        admin.patch(f"/api/v1/users/{user_id}", {"full_name": "Hash Less"}),
        me(testapp, login(testapp, "hash@example.com", "some long password").json["access_token"]),
    ]
    for res in responses:
        assert res.status_int == 200 or res.status_int == 201, res.text
        assert not any("password" in str(key) for key in _walk_keys(res.json)), res.json
        assert stored not in res.text
        assert "$2b$" not in res.text


def test_an_admin_cannot_lock_themselves_out(admin, dbsession):
    me = admin.user
    res = admin.patch(f"/api/v1/users/{me.id}", {"is_active": False})
    assert res.status_int == 400
    assert "deactivate your own" in res.json["error"]["fields"]["is_active"]
    res = admin.patch(f"/api/v1/users/{me.id}", {"role": "manager"})
    assert res.status_int == 400
    assert "role" in res.json["error"]["fields"]
    dbsession.expire_all()
    assert admin.get("/api/v1/me").json["role"] == "admin"
