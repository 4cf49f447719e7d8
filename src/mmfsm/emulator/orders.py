"""Signed V2 orders: read the ``POST /order`` body, prove who signed it, derive its terms.

Theory of operation
-------------------
A CLOB V2 order is the EIP-712 struct
``Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,
uint256 takerAmount,uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,
bytes32 builder)`` signed under the domain ``Polymarket CTF Exchange`` / ``"2"`` /
chain id / exchange address (the neg-risk exchange for neg-risk markets). The body
carries that struct with ``side`` as a string, plus ``expiration`` (not signed),
``owner`` (the API key), ``orderType`` and ``postOnly``.

Nothing in the body is trusted: ``parse_order`` checks its shape, ``verify`` recovers
the signer from the signature over the struct *as sent* (a changed amount breaks the
signature), requires it to be the API key's address and the owner to be the API key,
and returns the order id, which is the struct's EIP-712 digest (so the same signed
order posted twice is the same id, refused as duplicated).

The order's price and size are not fields: they are implied by the amounts. A BUY gives
``makerAmount`` pUSD for ``takerAmount`` shares, a SELL the other way round, both in
6-decimal base units; a share in base units is exactly one micro-share of
``mmfsm.core.ticks``, so the size needs no conversion and the price is
``usd / shares`` in 0.0001 units, kept as a ``Fraction`` until the tick rule decides
whether it is a grid price. Error texts are the live service's, word for word.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from attrs import frozen
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak

from mmfsm.core.ticks import PRICE_SCALE, SIZE_SCALE, Side

__all__ = [
    "EXCHANGE_V2",
    "NEG_RISK_EXCHANGE_V2",
    "ORDER_TYPES",
    "OrderError",
    "SignedOrder",
    "parse_order",
    "verify",
]

EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"
ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")

_ORDER_STRUCT = [
    {"name": "salt", "type": "uint256"},
    {"name": "maker", "type": "address"},
    {"name": "signer", "type": "address"},
    {"name": "tokenId", "type": "uint256"},
    {"name": "makerAmount", "type": "uint256"},
    {"name": "takerAmount", "type": "uint256"},
    {"name": "side", "type": "uint8"},
    {"name": "signatureType", "type": "uint8"},
    {"name": "timestamp", "type": "uint256"},
    {"name": "metadata", "type": "bytes32"},
    {"name": "builder", "type": "bytes32"},
]
_DOMAIN = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]

_USD_SCALE = 1_000_000  # pUSD base units per dollar


class OrderError(Exception):
    """A refused order: ``status`` and ``message`` go to the caller as ``{"error": ...}``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@frozen(kw_only=True)
class SignedOrder:
    """A well-formed order request; not yet verified."""

    salt: int
    maker: str
    signer: str
    token_id: str
    maker_amount: int
    taker_amount: int
    side: Side
    expiration: int
    signature_type: int
    timestamp_ms: int
    metadata: str
    builder: str
    signature: str
    owner: str
    order_type: str
    post_only: bool
    defer_exec: bool

    @property
    def size(self) -> int:
        """Shares the order trades, in micro-shares."""
        return self.taker_amount if self.side is Side.BUY else self.maker_amount

    @property
    def limit(self) -> Fraction:
        """The implied price in 0.0001 units: pUSD per share."""
        usd = self.maker_amount if self.side is Side.BUY else self.taker_amount
        return Fraction(usd * PRICE_SCALE * SIZE_SCALE, self.size * _USD_SCALE)


def _invalid(why: str) -> OrderError:
    """The live service names no field; ``why`` is for the reader of this code only."""
    del why
    return OrderError("Invalid order payload")


def _uint(value: object) -> int:
    if isinstance(value, bool):
        raise _invalid("bool")
    if isinstance(value, int):
        out = value
    elif isinstance(value, str) and value.isdigit():
        out = int(value)
    else:
        raise _invalid("not an unsigned integer")
    if out < 0 or out >= 2**256:
        raise _invalid("out of range")
    return out


def _hex32(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise _invalid("not bytes32")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise _invalid("not hex") from None
    return value


def _address(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 42:
        raise _invalid("not an address")
    try:
        bytes.fromhex(value[2:])
    except ValueError:
        raise _invalid("not hex") from None
    return value


def parse_order(body: object) -> SignedOrder:
    """Shape-check one order object of ``POST /order`` (or one item of ``/orders``)."""
    if not isinstance(body, dict) or not isinstance(body.get("order"), dict):
        raise _invalid("no order object")
    o: dict[str, Any] = body["order"]
    side_text = o.get("side")
    if side_text not in ("BUY", "SELL"):
        raise _invalid("side")
    order_type = body.get("orderType", "GTC")
    if order_type not in ORDER_TYPES:
        raise _invalid("orderType")
    owner = body.get("owner")
    signature = o.get("signature")
    if not isinstance(owner, str) or not isinstance(signature, str):
        raise _invalid("owner/signature")
    sig_type = o.get("signatureType", 0)
    if isinstance(sig_type, bool) or not isinstance(sig_type, int):
        raise _invalid("signatureType")
    order = SignedOrder(
        salt=_uint(o.get("salt")),
        maker=_address(o.get("maker")),
        signer=_address(o.get("signer")),
        token_id=str(_uint(o.get("tokenId"))),
        maker_amount=_uint(o.get("makerAmount")),
        taker_amount=_uint(o.get("takerAmount")),
        side=Side(side_text),
        expiration=_uint(o.get("expiration", "0")),
        signature_type=sig_type,
        timestamp_ms=_uint(o.get("timestamp")),
        metadata=_hex32(o.get("metadata")),
        builder=_hex32(o.get("builder")),
        signature=signature,
        owner=owner,
        order_type=order_type,
        post_only=bool(body.get("postOnly", False)),
        defer_exec=bool(body.get("deferExec", False)),
    )
    if order.maker_amount == 0 or order.taker_amount == 0:
        raise _invalid("zero amount")
    return order


def typed_data(order: SignedOrder, chain_id: int, neg_risk: bool) -> dict[str, Any]:
    """The EIP-712 message the order's signature must be over."""
    return {
        "primaryType": "Order",
        "types": {"EIP712Domain": _DOMAIN, "Order": _ORDER_STRUCT},
        "domain": {
            "name": "Polymarket CTF Exchange",
            "version": "2",
            "chainId": chain_id,
            "verifyingContract": NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2,
        },
        "message": {
            "salt": order.salt,
            "maker": order.maker,
            "signer": order.signer,
            "tokenId": int(order.token_id),
            "makerAmount": order.maker_amount,
            "takerAmount": order.taker_amount,
            "side": 0 if order.side is Side.BUY else 1,
            "signatureType": order.signature_type,
            "timestamp": order.timestamp_ms,
            "metadata": bytes.fromhex(order.metadata[2:]),
            "builder": bytes.fromhex(order.builder[2:]),
        },
    }


def verify(
    order: SignedOrder, *, api_key: str, key_address: str, chain_id: int, neg_risk: bool
) -> str:
    """Check who signed and for whom; return the order id (the EIP-712 digest)."""
    if order.owner != api_key:
        raise OrderError("the order owner has to be the owner of the API KEY")
    if order.signature_type == 3:
        raise OrderError("signature type 3 (POLY_1271 deposit wallet) is not emulated")
    if order.signature_type not in (0, 1, 2):
        raise OrderError("Invalid order payload")
    if order.signer.lower() != key_address.lower():
        raise OrderError("the order signer address has to be the address of the API KEY")
    if order.signature_type == 0 and order.maker.lower() != order.signer.lower():
        raise OrderError("maker and signer must be the same address for EOA orders")
    signable = encode_typed_data(full_message=typed_data(order, chain_id, neg_risk))
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    try:
        recovered = Account.recover_message(signable, signature=order.signature)
    except Exception:
        raise OrderError("invalid order signature") from None
    if recovered.lower() != order.signer.lower():
        raise OrderError("invalid order signature")
    return "0x" + digest.hex()
