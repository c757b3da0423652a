"""argon2id password hashing (argon2-cffi) at or above OWASP's minimum parameters."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from domain.errors import ValidationFailed

OWASP_MEMORY_KIB, OWASP_TIME, OWASP_PARALLELISM = 19456, 2, 1


def _encodable(password: str) -> bool:
    """JSON and GraphQL strings may carry lone surrogates ("\\ud800"), which UTF-8 cannot
    encode; argon2 would raise UnicodeEncodeError (a 500) on them."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Argon2PasswordHasher:
    def __init__(self, *, memory_kib: int = OWASP_MEMORY_KIB, time_cost: int = OWASP_TIME,
                 parallelism: int = OWASP_PARALLELISM) -> None:
        self._ph = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib,
                                  parallelism=parallelism, type=Type.ID)

    def hash(self, password: str) -> str:
        if not _encodable(password):
            raise ValidationFailed("Password must be valid Unicode text",
                                   reason="password_policy")
        return self._ph.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        if not _encodable(password):
            return False  # hash() never accepted such a password, so nothing can match
        try:
            return self._ph.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._ph.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True
