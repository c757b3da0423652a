"""HS256 JWTs (PyJWT) for access and id tokens, with an explicit algorithm list and
required claims. Access and id tokens carry a `typ` claim so one cannot stand in for the other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from domain.errors import Unauthenticated
from ports.services import AccessClaims, Clock

ISSUER = "fleetgate"
AUDIENCE = "fleetgate"
ALGORITHM = "HS256"
LEEWAY_SECONDS = 30
_REQUIRED = ["exp", "iat", "nbf", "sub", "iss", "aud", "typ", "org"]


class JwtTokenIssuer:
    def __init__(self, secret: str, clock: Clock, *, access_ttl: timedelta = timedelta(hours=1)
                 ) -> None:
        if len(secret) < 32:
            raise ValueError("FLEETGATE_SECRET must be at least 32 characters")
        self._secret, self._clock, self._ttl = secret, clock, access_ttl
        # token string -> its verified claims: a token's signature and claims never change,
        # so each is checked once; expiry is still compared with the clock on every use
        self._verified: dict[str, AccessClaims] = {}
        self._verified_max = 10_000

    def _encode(self, claims: dict[str, object]) -> str:
        now = self._clock.now()
        body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + self._ttl,
                **claims}
        return jwt.encode(body, self._secret, algorithm=ALGORITHM)

    def access_token(self, *, user_id: str, org_id: str, session_id: str) -> str:
        return self._encode({"sub": user_id, "org": org_id, "sid": session_id, "typ": "access"})

    def id_token(self, *, user_id: str, org_id: str, email: str, name: str) -> str:
        # RainMaker clients read the e-mail (and user id) from the id token locally
        return self._encode({"sub": user_id, "org": org_id, "typ": "id", "email": email,
                             "name": name, "custom:user_id": user_id,
                             "cognito:username": user_id})

    def verify_access(self, token: str) -> AccessClaims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._verify(token)
            if len(self._verified) >= self._verified_max:
                self._verified.clear()
            self._verified[token] = claims
        if claims.expires_at.timestamp() <= self._clock.now().timestamp() - LEEWAY_SECONDS:
            raise Unauthenticated("Invalid or expired token", reason="invalid_token")
        return claims

    def _verify(self, token: str) -> AccessClaims:
        invalid = Unauthenticated("Invalid or expired token", reason="invalid_token")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != ALGORITHM or "crit" in header:
                raise invalid
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                options={"require": _REQUIRED, "verify_exp": False, "verify_nbf": False,
                         "verify_iat": False},
            )
        except jwt.PyJWTError as exc:
            raise invalid from exc
        # time checks use our clock (tests run on a fixed clock), with 30 s leeway
        now = self._clock.now().timestamp()
        if claims["typ"] != "access" or not isinstance(claims.get("sid"), str):
            raise invalid
        if not isinstance(claims["exp"], int | float) or claims["exp"] <= now - LEEWAY_SECONDS:
            raise invalid
        if not isinstance(claims["nbf"], int | float) or claims["nbf"] > now + LEEWAY_SECONDS:
            raise invalid
        if not all(isinstance(claims[k], str) for k in ("sub", "org")):
            raise invalid
        return AccessClaims(user_id=claims["sub"], org_id=claims["org"], session_id=claims["sid"],
                            expires_at=datetime.fromtimestamp(claims["exp"], UTC))
