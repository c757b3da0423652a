"""Node signatures with the `cryptography` package: ECDSA over SHA-256 (DER, hex) for EC
keys, RSA-PSS with SHA-256 for RSA keys, as ESP RainMaker nodes sign."""

from __future__ import annotations

import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

MAX_PEM = 4096
MAX_SIGNATURE_HEX = 2048


class CryptographySignatures:
    def normalize_public_key(self, pem: str) -> str:
        if not isinstance(pem, str) or len(pem) > MAX_PEM:
            raise ValueError("public_key must be a PEM public key")
        try:
            key = serialization.load_pem_public_key(pem.encode("ascii"))
        except (ValueError, UnicodeEncodeError, TypeError) as exc:
            raise ValueError("public_key must be a PEM public key") from exc
        if isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.name not in ("secp256r1", "secp384r1"):
                raise ValueError("EC public keys must be on P-256 or P-384")
        elif isinstance(key, rsa.RSAPublicKey):
            if key.key_size < 2048:
                raise ValueError("RSA public keys must have at least 2048 bits")
        else:
            raise ValueError("public_key must be an EC or RSA key")
        return key.public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def verify(self, public_key_pem: str, message: bytes, signature_hex: str) -> bool:
        if not public_key_pem or len(signature_hex) > MAX_SIGNATURE_HEX:
            return False
        try:
            signature = binascii.unhexlify(signature_hex)
            key = serialization.load_pem_public_key(public_key_pem.encode("ascii"))
            if isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, rsa.RSAPublicKey):
                key.verify(signature, message,
                           padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                       salt_length=padding.PSS.AUTO), hashes.SHA256())
            else:
                return False
        except (InvalidSignature, ValueError, binascii.Error, TypeError):
            return False
        return True
