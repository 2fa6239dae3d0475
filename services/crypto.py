"""Personal data at rest: SM4-GCM field encryption under a key ring, and HMAC-SM3 blind indexes.

GB/T 39786 asks for important data to be confidential in storage with SM4 and its integrity
protected; SM4 in GCM (an authenticated mode, RFC 8998) gives both in one pass, so a flipped bit
is an error (``TamperedValue``), never garbage. The ``cryptography`` package provides SM4 and
SM3 from OpenSSL: no hand-written cipher.

Envelope encryption: every value gets its own random data key (DEK); the DEK is encrypted
("wrapped") with the ring's active key-encryption key (KEK, from settings) and stored beside the
value with the KEK's id. Rotating a KEK re-wraps 44 bytes per value in the background
(``rewrap``); the value's own ciphertext never changes and nothing is ever readable only with a
key that is gone: older KEKs stay in the ring until no value names them.

Two rings:
- ``personal``: names, phones, e-mails, ID numbers, contact people, free text of confidential
  reports. Read paths decrypt them as they load (``SealedText`` columns).
- ``confidential``: the identity on a whistleblower's report (举报, confidential or anonymous
  requests). Loaded as an opaque ``Sealed``; only ``unseal`` opens it, and only the
  discipline role's audited read path calls ``unseal``.

A sealed value as stored: ``ys1$<ring p|c>$<kid>$<wrapped DEK>$<nonce‖ciphertext‖tag>`` (base64url).
The column it lives in is authenticated data of both layers, so a value copied into another
column does not decrypt.

Blind indexes: ``blind_index(purpose, value)`` is HMAC-SM3 under ``BLIND_INDEX_KEY`` of the
normalised value. Equality lookups (a submitter's phone, a credit code, "the same submitter")
compare digests; a dump holds neither the values nor unsalted hashes a phone-number dictionary
would reverse in minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac as std_hmac
import os
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as sm3_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from services.settings import CommonSettings, common_settings

__all__ = [
    "PREFIX",
    "ConfidentialText",
    "CryptoConfigError",
    "KeyRing",
    "PersonalText",
    "PlainText",
    "Keys",
    "Ring",
    "Sealed",
    "SealedJSON",
    "SealedText",
    "TamperedValue",
    "UnknownKeyId",
    "blind_index",
    "keys",
    "normalize_phone",
    "rewrap",
    "seal",
    "sealed_key_id",
    "unseal",
]

PREFIX = "ys1$"
_ESCAPE = "ys0$"  # a plain value that starts like a sealed one
KEY_BYTES = 16  # SM4 is a 128-bit block cipher with 128-bit keys
_NONCE = 12
_TAG = 16
_WRAPPED = _NONCE + KEY_BYTES + _TAG
_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

Ring = Literal["personal", "confidential"]
_RING_CODE: dict[str, Ring] = {"p": "personal", "c": "confidential"}
_CODE_OF: dict[Ring, str] = {"personal": "p", "confidential": "c"}


class CryptoConfigError(RuntimeError):
    """The keys in settings cannot be used: refuse to start rather than write plaintext."""


class UnknownKeyId(RuntimeError):
    """A value names a key id the ring does not hold (a key removed too early, or a value from
    another installation). Reported, never skipped."""

    def __init__(self, ring: str, kid: str) -> None:
        super().__init__(f"value encrypted under unknown {ring} key id {kid!r}")
        self.ring = ring
        self.kid = kid


class TamperedValue(RuntimeError):
    """Authentication failed: the value was altered, moved between columns, or the key with its
    id is not the key that sealed it."""


@dataclass(frozen=True, slots=True)
class Sealed:
    """A confidential-ring value as loaded: opaque until ``unseal``. Not a str, so code that
    would print, mask or send it fails loudly instead of leaking it."""

    token: str

    def __repr__(self) -> str:
        return "Sealed(…)"

    __str__ = __repr__


class ConfidentialText(str):
    """A str to be sealed under the confidential ring when written to a ``SealedText`` column."""

    __slots__ = ()


class PersonalText(str):
    """A str to be sealed under the personal ring even in a column that stores plain text by
    default (a confidential report's free text)."""

    __slots__ = ()


class PlainText(str):
    """A str to be stored as it is in a column that seals by default (a non-confidential
    request's enterprise name: public registry data, searched by substring)."""

    __slots__ = ()


@dataclass(frozen=True)
class KeyRing:
    name: Ring
    active: str
    keys: dict[str, bytes]

    def kek(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise UnknownKeyId(self.name, kid) from None


@dataclass(frozen=True)
class Keys:
    personal: KeyRing
    confidential: KeyRing
    blind: bytes

    def ring(self, name: Ring) -> KeyRing:
        return self.personal if name == "personal" else self.confidential


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _decode_key(setting: str, kid: str, text: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        raise CryptoConfigError(f"{setting}[{kid!r}] is not base64") from None
    if len(key) != KEY_BYTES:
        raise CryptoConfigError(
            f"{setting}[{kid!r}] must be {KEY_BYTES} bytes (SM4-128), got {len(key)}"
        )
    return key


def _ring(name: Ring, setting: str, given: dict[str, str], active: str | None) -> KeyRing:
    if not given:
        raise CryptoConfigError(f"{setting} is empty: no key to encrypt personal data with")
    for kid in given:
        if not _KID.match(kid):
            raise CryptoConfigError(f"{setting} key id {kid!r}: use 1-32 of A-Z a-z 0-9 _ -")
    decoded = {kid: _decode_key(setting, kid, text) for kid, text in given.items()}
    chosen = active or (next(iter(decoded)) if len(decoded) == 1 else None)
    if chosen is None or chosen not in decoded:
        raise CryptoConfigError(f"{setting}_ACTIVE must name one of the ids in {setting}")
    return KeyRing(name, chosen, decoded)


def _development_key(common: CommonSettings, label: str, size: int = KEY_BYTES) -> str:
    # Development only (check_production refuses it): stable per SECRET_KEY, so make run's data
    # survives a restart without anyone configuring keys.
    digest = hashlib.sha256(f"yingshang-dev-{label}:{common.secret_key}".encode()).digest()
    return base64.b64encode(digest[:size]).decode("ascii")


def load_keys(common: CommonSettings) -> Keys:
    """The rings from settings; raises CryptoConfigError with the setting to fix."""
    data, confidential, blind = common.data_keys, common.confidential_keys, common.blind_index_key
    if common.env != "production":
        data = data or {"dev": _development_key(common, "data")}
        confidential = confidential or {"dev": _development_key(common, "confidential")}
        blind = blind or _development_key(common, "blind", 32)
    personal = _ring("personal", "DATA_KEYS", data, common.data_key_active)
    secret = _ring(
        "confidential", "CONFIDENTIAL_KEYS", confidential, common.confidential_key_active
    )
    if set(personal.keys.values()) & set(secret.keys.values()):
        raise CryptoConfigError("CONFIDENTIAL_KEYS must not reuse a key of DATA_KEYS")
    if not blind:
        raise CryptoConfigError("BLIND_INDEX_KEY is empty: lookups by phone need it")
    try:
        blind_key = base64.b64decode(blind, validate=True)
    except ValueError:
        raise CryptoConfigError("BLIND_INDEX_KEY is not base64") from None
    if len(blind_key) < 32:
        raise CryptoConfigError("BLIND_INDEX_KEY must be at least 32 bytes")
    return Keys(personal, secret, blind_key)


_loaded: tuple[CommonSettings, Keys] | None = None


def keys() -> Keys:
    """The process's keys, loaded once per settings object (a test that reloads the settings
    gets the keys they name)."""
    global _loaded
    common = common_settings()
    if _loaded is None or _loaded[0] is not common:
        _loaded = (common, load_keys(common))
    return _loaded[1]


def _gcm_encrypt(key: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(plain) + encryptor.finalize()
    return nonce + body + encryptor.tag


def _gcm_decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    if len(blob) < _NONCE + _TAG:
        raise TamperedValue("sealed value too short")
    nonce, body, tag = blob[:_NONCE], blob[_NONCE:-_TAG], blob[-_TAG:]
    decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
    decryptor.authenticate_additional_data(aad)
    try:
        return decryptor.update(body) + decryptor.finalize()
    except InvalidTag:
        raise TamperedValue("sealed value failed authentication") from None


def _wrap_aad(code: str, kid: str, label: str) -> bytes:
    return f"ys1|{code}|{kid}|{label}".encode()


def _data_aad(code: str, label: str) -> bytes:
    return f"ys1|{code}|{label}".encode()


def seal(value: str, label: str, ring: Ring = "personal", *, using: Keys | None = None) -> str:
    """``value`` encrypted for the column ``label`` under the ring's active key."""
    key_ring = (using or keys()).ring(ring)
    code = _CODE_OF[ring]
    dek = os.urandom(KEY_BYTES)
    wrapped = _gcm_encrypt(
        key_ring.kek(key_ring.active), dek, _wrap_aad(code, key_ring.active, label)
    )
    body = _gcm_encrypt(dek, value.encode("utf-8"), _data_aad(code, label))
    return f"{PREFIX}{code}${key_ring.active}${_b64(wrapped)}${_b64(body)}"


def _parse(token: str) -> tuple[str, str, bytes, bytes]:
    parts = token[len(PREFIX) :].split("$")
    if not token.startswith(PREFIX) or len(parts) != 4 or parts[0] not in _RING_CODE:
        raise TamperedValue("not a sealed value")
    code, kid, wrapped, body = parts
    try:
        return code, kid, _unb64(wrapped), _unb64(body)
    except ValueError:
        raise TamperedValue("sealed value is not base64url") from None


def _open(token: str, label: str, using: Keys | None) -> str:
    code, kid, wrapped, body = _parse(token)
    key_ring = (using or keys()).ring(_RING_CODE[code])
    dek = _gcm_decrypt(key_ring.kek(kid), wrapped, _wrap_aad(code, kid, label))
    try:
        return _gcm_decrypt(dek, body, _data_aad(code, label)).decode("utf-8")
    except UnicodeDecodeError:
        raise TamperedValue("sealed value is not UTF-8") from None


def unseal(value: str | Sealed | None, label: str, *, using: Keys | None = None) -> str | None:
    """The plaintext of a loaded value. Personal values arrive already open; a ``Sealed``
    (confidential) is opened here: call it only from an audited discipline read path."""
    if value is None or isinstance(value, str):
        return value
    return _open(value.token, label, using)


def sealed_key_id(token: str) -> tuple[Ring, str] | None:
    """(ring, key id) of a stored value; None for plaintext (not yet migrated)."""
    if not token.startswith(PREFIX):
        return None
    code, kid, _, _ = _parse(token)
    return _RING_CODE[code], kid


def rewrap(token: str, label: str, *, using: Keys | None = None) -> str:
    """The stored value with its DEK wrapped by its ring's active key (a rotation step); the
    value's ciphertext is kept as is. Unchanged when it already names the active key."""
    code, kid, wrapped, body = _parse(token)
    key_ring = (using or keys()).ring(_RING_CODE[code])
    if kid == key_ring.active:
        return token
    dek = _gcm_decrypt(key_ring.kek(kid), wrapped, _wrap_aad(code, kid, label))
    rewrapped = _gcm_encrypt(
        key_ring.kek(key_ring.active), dek, _wrap_aad(code, key_ring.active, label)
    )
    return f"{PREFIX}{code}${key_ring.active}${_b64(rewrapped)}${_b64(body)}"


def normalize_phone(phone: str) -> str:
    """Digits only, without China's +86/0086 prefix: the same number however it was typed."""
    digits = re.sub(r"\D", "", phone)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
            return digits[len(prefix) :]
    return digits


def blind_index(purpose: str, value: str, *, using: Keys | None = None) -> str:
    """HMAC-SM3 of the value for one purpose (``phone``, ``uscc``, ``submitter``…); the caller
    normalises. Hex, 64 characters."""
    mac = sm3_hmac.HMAC((using or keys()).blind, hashes.SM3())
    mac.update(purpose.encode() + b"\x00" + value.encode("utf-8"))
    return mac.finalize().hex()


def same_digest(left: str, right: str) -> bool:
    return std_hmac.compare_digest(left, right)


class SealedText(TypeDecorator[Any]):
    """A TEXT column that may hold sealed values. A ``ConfidentialText`` is written sealed under
    the confidential ring, a ``PersonalText`` under the personal ring, a ``PlainText`` as it is,
    a ``Sealed`` loaded earlier back as it was; any other str by the column's ``default``
    (``seal``: personal ring; ``plain``: as it is). On load, personal values are opened and
    confidential ones stay ``Sealed``.

    Plaintext in a sealing column (rows written before encryption, until the background
    migration reaches them) loads as it is; the migration finds it by the missing prefix. A
    plain value that happens to start like a sealed one is stored escaped. ``label``
    (``table.column``) is authenticated with the value."""

    impl = Text
    cache_ok = True

    def __init__(self, label: str, default: Literal["seal", "plain"] = "seal") -> None:
        super().__init__()
        self.label = label
        self.default = default

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return value.token
        if isinstance(value, ConfidentialText):
            return seal(str(value), self.label, "confidential")
        if isinstance(value, PersonalText):
            return seal(str(value), self.label, "personal")
        if not isinstance(value, str):
            raise TypeError(f"{self.label}: cannot seal {type(value).__name__}")
        if self.default == "seal" and not isinstance(value, PlainText):
            return seal(value, self.label, "personal")
        text = str(value)
        return _ESCAPE + text if text.startswith((PREFIX, _ESCAPE)) else text

    def process_result_value(self, value: Any, dialect: Dialect) -> str | Sealed | None:
        if value is None:
            return None
        text = str(value)
        if text.startswith(_ESCAPE):
            return text[len(_ESCAPE) :]
        if not text.startswith(PREFIX):
            return text
        if text[len(PREFIX)] == "c":
            return Sealed(text)
        return _open(text, self.label, None)


class SealedJSON(TypeDecorator[Any]):
    """A JSON document (a submitter as other services keep it) sealed whole under the personal
    ring; documents stored before encryption load from their plain JSON text."""

    impl = Text
    cache_ok = True

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return seal(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode(), self.label)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str) and value.startswith(PREFIX):
            return orjson.loads(_open(value, self.label, None))
        return orjson.loads(value) if isinstance(value, str) else value
