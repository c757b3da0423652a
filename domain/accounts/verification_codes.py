"""Verification codes mailed to users (sign-up, password reset, account deletion): issuing
one, spending an attempt on it, and the message that carries it."""

from __future__ import annotations

import hmac

from domain.accounts.model import CODE_TTL, CodePurpose, User, VerificationCode
from domain.errors import ValidationFailed
from domain.hashing import sha256_hex
from ports.repositories.uow import UnitOfWork
from ports.services import Clock, IdGenerator, OutgoingMessage


async def issue_code(uow: UnitOfWork, *, user: User, purpose: CodePurpose, ids: IdGenerator,
                     clock: Clock) -> str:
    """Replaces any earlier code of this purpose with a fresh one; returns the plain code."""
    await uow.codes.invalidate(user.id, purpose.value)
    plain = ids.numeric_code(6)
    await uow.codes.add(
        VerificationCode(
            id=ids.new_id(),
            org_id=user.org_id,
            user_id=user.id,
            purpose=purpose,
            code_hash=sha256_hex(f"{user.id}:{plain}"),
            expires_at=clock.now() + CODE_TTL[purpose],
        )
    )
    return plain


async def check_code(uow: UnitOfWork, *, user: User, purpose: CodePurpose, code: object,
                     clock: Clock) -> None:
    """Spends one attempt on the user's current code; raises when it does not match."""
    if not isinstance(code, str | int) or not str(code).strip():
        raise ValidationFailed("Verification code is missing", reason="code_missing")
    stored = await uow.codes.latest(user.id, purpose.value)
    if stored is None or not stored.usable(clock.now()):
        raise ValidationFailed("Verification code is incorrect", reason="code_incorrect")
    matched = hmac.compare_digest(stored.code_hash, sha256_hex(f"{user.id}:{str(code).strip()}"))
    stored.record_attempt(matched)
    await uow.codes.save(stored)
    if not matched:
        await uow.commit()  # the failed attempt must count even though we raise
        raise ValidationFailed("Verification code is incorrect", reason="code_incorrect")


def wrong_code() -> ValidationFailed:
    return ValidationFailed("Verification code is incorrect", reason="code_incorrect")


CODE_SUBJECTS = {
    CodePurpose.SIGN_UP: "Your Fleetgate verification code",
    CodePurpose.RESET_PASSWORD: "Your Fleetgate password reset code",
    CodePurpose.DELETE_ACCOUNT: "Your Fleetgate account deletion code",
}


def code_message(user: User, purpose: CodePurpose, code: str) -> OutgoingMessage:
    return OutgoingMessage(
        org_id=user.org_id,
        to=user.user_name,
        subject=CODE_SUBJECTS[purpose],
        body=f"Your verification code is {code}. It was requested for {purpose.value}.",
        kind=purpose.value,
    )
