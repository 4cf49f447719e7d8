"""Who is calling: L1 (EIP-712 wallet signature) and L2 (HMAC with an API key) auth.

Theory of operation
-------------------
Polymarket has two levels of request authentication, and the emulator checks both the
way the live CLOB does, so an adapter bug that would be refused live is refused here:

* **L1** (``POST /auth/api-key``, ``GET /auth/derive-api-key``): the caller signs the
  EIP-712 struct ``ClobAuth(address address,string timestamp,uint256 nonce,string
  message)`` under the domain ``ClobAuthDomain`` / version ``"1"`` / chain id (no
  verifying contract). We recover the signer from ``POLY_SIGNATURE`` and require it to
  be ``POLY_ADDRESS``, with a fresh ``POLY_TIMESTAMP``.
* **L2** (everything that trades or reads an account): ``POLY_SIGNATURE`` is the
  URL-safe base64 HMAC-SHA256, keyed by the base64-decoded API secret, of
  ``timestamp + METHOD + path + body`` where the path has no query string and the body
  is the exact bytes sent. The key must exist, the passphrase and address must be the
  key's, and the timestamp must be within ``window_s`` of the server clock: a replayed
  or stale request is refused.

API keys are derived deterministically from (address, nonce) and a per-emulator seed,
as the live service derives them: ``derive`` after ``create`` gives the same key, and a
second ``create`` for the same pair fails, which is what sends the official client's
``create_or_derive_api_key`` down its derive path.

Every refusal is an ``AuthError`` with the live service's message and status; the
reason is kept apart (``detail``) for the emulator's own debug log, because the live
service does not tell a caller which part of its signature was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from attrs import frozen
from eth_account import Account
from eth_account.messages import encode_typed_data

__all__ = [
    "L1_MESSAGE",
    "ApiKey",
    "ApiKeys",
    "AuthError",
    "hmac_signature",
    "recover_l1",
]

L1_MESSAGE = "This message attests that I control the given wallet"

_L1_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
    ],
    "ClobAuth": [
        {"name": "address", "type": "address"},
        {"name": "timestamp", "type": "string"},
        {"name": "nonce", "type": "uint256"},
        {"name": "message", "type": "string"},
    ],
}


class AuthError(Exception):
    """A refused request: ``status`` and ``message`` are what the caller gets."""

    def __init__(self, status: int, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.detail = detail


@frozen(kw_only=True)
class ApiKey:
    """One API key: its owner's address (checksummed) and its credentials."""

    api_key: str
    secret: str
    passphrase: str
    address: str
    nonce: int

    def as_json(self) -> dict[str, str]:
        return {"apiKey": self.api_key, "secret": self.secret, "passphrase": self.passphrase}


def _header(headers: Mapping[str, str], name: str, error: AuthError) -> str:
    value = headers.get(name)
    if not value:
        raise AuthError(error.status, error.message, f"missing header {name}")
    return value


def _fresh(ts_text: str, now_s: float, window_s: float, error: AuthError) -> None:
    try:
        ts = int(ts_text)
    except ValueError:
        raise AuthError(error.status, error.message, "timestamp is not an integer") from None
    if abs(now_s - ts) > window_s:
        raise AuthError(
            error.status, error.message, f"timestamp {ts} is {now_s - ts:.0f}s from server time"
        )


def recover_l1(
    headers: Mapping[str, str], chain_id: int, now_s: float, window_s: float
) -> tuple[str, int]:
    """Check L1 headers; return the (checksummed) address and the nonce they sign for."""
    bad = AuthError(401, "Invalid L1 Request headers")
    address = _header(headers, "POLY_ADDRESS", bad)
    signature = _header(headers, "POLY_SIGNATURE", bad)
    timestamp = _header(headers, "POLY_TIMESTAMP", bad)
    nonce_text = headers.get("POLY_NONCE") or "0"
    _fresh(timestamp, now_s, window_s, bad)
    try:
        nonce = int(nonce_text)
        message = {
            "primaryType": "ClobAuth",
            "types": _L1_TYPES,
            "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": chain_id},
            "message": {
                "address": address,
                "timestamp": timestamp,
                "nonce": nonce,
                "message": L1_MESSAGE,
            },
        }
        signer = Account.recover_message(
            encode_typed_data(full_message=message), signature=signature
        )
    except Exception as exc:  # malformed address, nonce or signature bytes
        raise AuthError(bad.status, bad.message, f"cannot recover signer: {exc}") from None
    if signer.lower() != address.lower():
        raise AuthError(bad.status, bad.message, "signature is not by POLY_ADDRESS")
    return signer, nonce


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """The L2 signature as the official clients compute it."""
    key = base64.urlsafe_b64decode(secret)
    message = f"{timestamp}{method}{path}{body}"
    digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


class ApiKeys:
    """The emulator's API keys, derived from (address, nonce) and a seed."""

    def __init__(self, seed: str) -> None:
        self._seed = seed.encode("utf-8")
        self._by_key: dict[str, ApiKey] = {}
        self._by_owner: dict[tuple[str, int], ApiKey] = {}

    def _derive(self, address: str, nonce: int) -> ApiKey:
        material = hashlib.sha256(self._seed + f"|{address.lower()}|{nonce}".encode()).digest()
        raw = material.hex()
        api_key = f"{raw[0:8]}-{raw[8:12]}-4{raw[13:16]}-a{raw[17:20]}-{raw[20:32]}"
        secret = base64.urlsafe_b64encode(hashlib.sha256(material + b"secret").digest()).decode()
        passphrase = hashlib.sha256(material + b"passphrase").hexdigest()
        return ApiKey(
            api_key=api_key, secret=secret, passphrase=passphrase, address=address, nonce=nonce
        )

    def create(self, address: str, nonce: int) -> ApiKey:
        if (address.lower(), nonce) in self._by_owner:
            raise AuthError(400, "Could not create api key", "key exists for this address/nonce")
        key = self._derive(address, nonce)
        self._by_owner[(address.lower(), nonce)] = key
        self._by_key[key.api_key] = key
        return key

    def derive(self, address: str, nonce: int) -> ApiKey:
        key = self._by_owner.get((address.lower(), nonce))
        if key is None:
            raise AuthError(400, "Could not derive api key!", "no key for this address/nonce")
        return key

    def delete(self, key: ApiKey) -> None:
        self._by_key.pop(key.api_key, None)
        self._by_owner.pop((key.address.lower(), key.nonce), None)

    def of_address(self, address: str) -> list[ApiKey]:
        return [k for k in self._by_key.values() if k.address.lower() == address.lower()]

    def get(self, api_key: str) -> ApiKey | None:
        return self._by_key.get(api_key)

    def verify_l2(
        self,
        headers: Mapping[str, str],
        *,
        method: str,
        path: str,
        body: str,
        now_s: float,
        window_s: float,
    ) -> ApiKey:
        """Check L2 headers against the exact request; return the caller's key."""
        bad = AuthError(401, "Unauthorized/Invalid api key")
        api_key = _header(headers, "POLY_API_KEY", bad)
        key = self._by_key.get(api_key)
        if key is None:
            raise AuthError(bad.status, bad.message, "unknown api key")
        if not hmac.compare_digest(_header(headers, "POLY_PASSPHRASE", bad), key.passphrase):
            raise AuthError(bad.status, bad.message, "wrong passphrase")
        if _header(headers, "POLY_ADDRESS", bad).lower() != key.address.lower():
            raise AuthError(bad.status, bad.message, "POLY_ADDRESS is not the key's address")
        timestamp = _header(headers, "POLY_TIMESTAMP", bad)
        _fresh(timestamp, now_s, window_s, bad)
        expected = hmac_signature(key.secret, timestamp, method, path, body)
        if not hmac.compare_digest(_header(headers, "POLY_SIGNATURE", bad), expected):
            raise AuthError(bad.status, bad.message, "HMAC does not match the request")
        return key

    def verify_ws(self, auth: object) -> ApiKey:
        """Check the user channel's ``auth`` object (key, secret, passphrase)."""
        bad = AuthError(401, "Unauthorized/Invalid api key")
        if not isinstance(auth, dict):
            raise AuthError(bad.status, bad.message, "auth is not an object")
        key = self._by_key.get(str(auth.get("apiKey", "")))
        if key is None:
            raise AuthError(bad.status, bad.message, "unknown api key")
        if not (
            hmac.compare_digest(str(auth.get("secret", "")), key.secret)
            and hmac.compare_digest(str(auth.get("passphrase", "")), key.passphrase)
        ):
            raise AuthError(bad.status, bad.message, "wrong secret or passphrase")
        return key
