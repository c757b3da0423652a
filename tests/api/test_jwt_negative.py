"""S7: every malformed, forged or misused token is refused, on REST and on GraphQL alike.

Each negative token is built from the claims of a real, working access token and differs from
it in exactly one respect, so each rejection is caused by that one defect. A positive control
(the same claims re-signed correctly) proves the token factory itself makes valid tokens.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters.security.jwt_tokens import ALGORITHM, AUDIENCE, ISSUER, LEEWAY_SECONDS
from tests.conftest import SECRET, Env

ME = "{ me { id } }"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def hs_token(claims: dict[str, Any], key: str | bytes = SECRET, *, alg: str = "HS256",
             header: dict[str, Any] | None = None) -> str:
    """Signs by hand with HMAC, so any header and any key (even a PEM) can be used."""
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}
    head = _segment({"alg": alg, "typ": "JWT", **(header or {})})
    body = _segment(claims)
    raw_key = key.encode() if isinstance(key, str) else key
    hash_alg = digest[alg] if alg in digest else hashlib.sha256
    sig = hmac.new(raw_key, f"{head}.{body}".encode(), hash_alg).digest()
    return f"{head}.{body}.{_b64(sig)}"


def unsigned_token(claims: dict[str, Any], alg: str) -> str:
    return f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(claims)}."


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Session:
    """What a real sign-in handed out, and the claims of its access token."""

    tokens: dict[str, Any]
    claims: dict[str, Any]
    other_user_id: str
    rsa_key: rsa.RSAPrivateKey

    def now(self) -> int:
        return int(time.time())


@pytest.fixture
async def session(env: Env, rsa_key: rsa.RSAPrivateKey) -> Session:
    await env.signup("victim@example.com")
    await env.signup("mallory@example.com")
    tokens = await env.login("victim@example.com")
    other = await env.login("mallory@example.com")
    claims = jwt.decode(tokens["accesstoken"], options={"verify_signature": False})
    other_claims = jwt.decode(other["accesstoken"], options={"verify_signature": False})
    return Session(tokens=tokens, claims=claims, other_user_id=other_claims["sub"],
                   rsa_key=rsa_key)


def _with(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**claims, **changes}


def _without(claims: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if k != key}


def _public_pem(s: Session) -> bytes:
    return s.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _tampered(s: Session) -> str:
    """The real token's header and signature around a payload naming another user."""
    head, _body, sig = s.tokens["accesstoken"].split(".")
    return f"{head}.{_segment(_with(s.claims, sub=s.other_user_id))}.{sig}"


def _signature_stripped(s: Session) -> str:
    head, body, _sig = s.tokens["accesstoken"].split(".")
    return f"{head}.{body}."


def _signature_flipped(s: Session) -> str:
    head, body, sig = s.tokens["accesstoken"].split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[0] ^= 0x01
    return f"{head}.{body}.{_b64(bytes(raw))}"


TokenFactory = Callable[[Session], str]

NEGATIVE_TOKENS: dict[str, TokenFactory] = {
    # algorithm attacks
    "alg none": lambda s: unsigned_token(s.claims, "none"),
    "alg None (mixed case)": lambda s: unsigned_token(s.claims, "None"),
    "alg none with the real signature kept": lambda s: (
        f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{s.tokens['accesstoken'].split('.', 1)[1]}"),
    "RS256 signed with an attacker's RSA key": lambda s: jwt.encode(
        s.claims, s.rsa_key, algorithm="RS256"),
    "HS256 signed with a public key as the secret": lambda s: hs_token(s.claims, _public_pem(s)),
    "RS256 header over an HMAC signature by the real secret": lambda s: hs_token(
        s.claims, SECRET, alg="RS256"),
    "HS512 with the real secret (algorithm not allowed)": lambda s: hs_token(
        s.claims, SECRET, alg="HS512"),
    "HS384 with the real secret (algorithm not allowed)": lambda s: hs_token(
        s.claims, SECRET, alg="HS384"),
    # key and integrity
    "wrong key": lambda s: hs_token(s.claims, "another-secret-" + "y" * 40),
    "empty key": lambda s: hs_token(s.claims, b""),
    "tampered payload (sub swapped to another user)": _tampered,
    "signature stripped": _signature_stripped,
    "signature bit flipped": _signature_flipped,
    "unknown crit header": lambda s: hs_token(
        s.claims, header={"crit": ["x-fleetgate-unknown"], "x-fleetgate-unknown": True}),
    # time claims
    "expired an hour ago": lambda s: hs_token(_with(
        s.claims, iat=s.now() - 7200, nbf=s.now() - 7200, exp=s.now() - 3600)),
    "nbf an hour in the future": lambda s: hs_token(_with(
        s.claims, nbf=s.now() + 3600, exp=s.now() + 7200)),
    "missing exp": lambda s: hs_token(_without(s.claims, "exp")),
    "exp is a string": lambda s: hs_token(_with(s.claims, exp=str(s.now() + 3600))),
    "missing nbf": lambda s: hs_token(_without(s.claims, "nbf")),
    # audience and issuer
    "wrong aud": lambda s: hs_token(_with(s.claims, aud="some-other-service")),
    "missing aud": lambda s: hs_token(_without(s.claims, "aud")),
    "wrong iss": lambda s: hs_token(_with(s.claims, iss="https://evil.example.com")),
    "missing iss": lambda s: hs_token(_without(s.claims, "iss")),
    # type confusion and identity claims
    "id token used as access token": lambda s: s.tokens["idtoken"],
    "refresh token used as access token": lambda s: s.tokens["refreshtoken"],
    "typ refresh, correctly signed": lambda s: hs_token(_with(s.claims, typ="refresh")),
    "typ id, correctly signed": lambda s: hs_token(_with(s.claims, typ="id")),
    "typ missing, correctly signed": lambda s: hs_token(_without(s.claims, "typ")),
    "session id missing, correctly signed": lambda s: hs_token(_without(s.claims, "sid")),
    "unknown session id, correctly signed": lambda s: hs_token(
        _with(s.claims, sid="00000000-0000-0000-0000-000000000000")),
    "org of another tenant, correctly signed": lambda s: hs_token(
        _with(s.claims, org="00000000-0000-0000-0000-000000000000")),
    "not a JWT at all": lambda s: "not-a-token",
    "oversized token": lambda s: "a" * 5000,
}


def test_the_app_issues_the_claims_these_tests_forge(session: Session) -> None:
    claims = session.claims
    assert claims["typ"] == "access"
    assert claims["iss"] == ISSUER and claims["aud"] == AUDIENCE
    assert jwt.get_unverified_header(session.tokens["accesstoken"])["alg"] == ALGORITHM
    assert {"exp", "iat", "nbf", "sub", "org", "sid"} <= claims.keys()


async def test_correctly_resigned_claims_are_accepted_positive_control(env: Env,
                                                                       session: Session) -> None:
    token = hs_token(_with(session.claims, iat=session.now(), nbf=session.now(),
                           exp=session.now() + 600))
    r = await env.client.get("/v1/user2", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.json()["user_name"] == "victim@example.com"
    body = await env.gql(ME, token=token)
    assert body.get("errors") is None and body["data"]["me"]["id"] == session.claims["sub"]


@pytest.mark.parametrize("case", list(NEGATIVE_TOKENS))
async def test_forged_or_misused_token_is_rejected_on_rest_and_graphql(env: Env, session: Session,
                                                                      case: str) -> None:
    token = NEGATIVE_TOKENS[case](session)
    for header in (f"Bearer {token}", token):  # RainMaker clients send the raw token
        r = await env.client.get("/v1/user2", headers={"Authorization": header})
        assert r.status_code == 401, (case, r.status_code, r.text)
        body = r.json()
        assert body["status"] == "failure"
        assert body["error_code"] == 100047, body
        assert "victim" not in r.text and "mallory" not in r.text

    answer = await env.gql(ME, token=token)
    assert answer.get("data") is None, (case, answer)
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAUTHENTICATED"], answer


async def test_rejections_give_no_hint_of_which_part_was_wrong(env: Env,
                                                               session: Session) -> None:
    descriptions = set()
    for case in ("alg none", "wrong key", "expired an hour ago", "wrong aud", "wrong iss",
                 "unknown crit header", "id token used as access token", "missing exp"):
        r = await env.client.get("/v1/user2", headers={
            "Authorization": f"Bearer {NEGATIVE_TOKENS[case](session)}"})
        descriptions.add((r.status_code, r.json()["error_code"], r.json()["description"]))
    assert len(descriptions) == 1, descriptions


async def test_the_genuine_token_still_works_after_all_the_forgeries(env: Env,
                                                                     session: Session) -> None:
    for factory in NEGATIVE_TOKENS.values():
        await env.client.get("/v1/user2", headers={"Authorization": factory(session)})
    r = await env.client.get("/v1/user2",
                             headers={"Authorization": session.tokens["accesstoken"]})
    assert r.status_code == 200


async def test_a_token_accepted_just_before_expiry_is_refused_once_expired(
        env: Env, session: Session) -> None:
    """Verified tokens may be remembered, but expiry is judged on every request."""
    exp = time.time() - LEEWAY_SECONDS + 1.5  # still good for 1.5 s, counting the leeway
    token = hs_token(_with(session.claims, exp=exp))
    first = await env.client.get("/v1/user2", headers={"Authorization": token})
    assert first.status_code == 200, "the token should still be inside its leeway"
    deadline = time.monotonic() + 10
    while True:
        r = await env.client.get("/v1/user2", headers={"Authorization": token})
        if r.status_code != 200:
            break
        assert time.monotonic() < deadline, "an expired token is still accepted"
        await asyncio.sleep(0.05)
    assert r.status_code == 401 and r.json()["error_code"] == 100047
    assert time.time() >= exp + LEEWAY_SECONDS - 0.01  # and not refused before its time
    answer = await env.gql(ME, token=token)
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["UNAUTHENTICATED"]
