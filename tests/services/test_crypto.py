"""services/crypto.py: SM4-GCM envelopes under two key rings, rotation by re-wrapping, blind
indexes, and the column type that seals and opens values."""

from __future__ import annotations

import base64
import os

import pytest

from services.crypto import (
    PREFIX,
    ConfidentialText,
    CryptoConfigError,
    PersonalText,
    PlainText,
    Sealed,
    SealedText,
    TamperedValue,
    UnknownKeyId,
    blind_index,
    load_keys,
    rewrap,
    seal,
    sealed_key_id,
    unseal,
)
from services.settings import CommonSettings


def key() -> str:
    return base64.b64encode(os.urandom(16)).decode()


def settings(**overrides: object) -> CommonSettings:
    values: dict[str, object] = {
        "env": "production",
        "secret_key": "x" * 40,
        "data_keys": {"k1": key()},
        "confidential_keys": {"c1": key()},
        "blind_index_key": base64.b64encode(os.urandom(32)).decode(),
    }
    values.update(overrides)
    return CommonSettings.model_validate(values)


def test_a_value_round_trips_and_names_its_ring_and_key() -> None:
    keys = load_keys(settings())
    token = seal("张三 13812345678", "issue.submitter_name", using=keys)
    assert token.startswith(PREFIX)
    assert "张三" not in token
    assert "138" not in token
    assert sealed_key_id(token) == ("personal", "k1")
    assert unseal(Sealed(token), "issue.submitter_name", using=keys) == "张三 13812345678"
    # A fresh data key and nonce per value: the same plaintext never seals the same twice.
    assert seal("张三", "x", using=keys) != seal("张三", "x", using=keys)


def test_tampering_moving_and_wrong_keys_are_errors_not_garbage() -> None:
    keys = load_keys(settings())
    token = seal("13812345678", "issue.submitter_phone", using=keys)
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with pytest.raises(TamperedValue):
        unseal(Sealed(flipped), "issue.submitter_phone", using=keys)
    # The column is authenticated: a phone pasted into the name column does not open.
    with pytest.raises(TamperedValue):
        unseal(Sealed(token), "issue.submitter_name", using=keys)
    # The same key id holding another key (a wrong key in settings) fails authentication.
    other = load_keys(settings(data_keys={"k1": key()}))
    with pytest.raises(TamperedValue):
        unseal(Sealed(token), "issue.submitter_phone", using=other)
    unknown = load_keys(settings(data_keys={"k9": key()}))
    with pytest.raises(UnknownKeyId) as raised:
        unseal(Sealed(token), "issue.submitter_phone", using=unknown)
    assert raised.value.kid == "k1"
    with pytest.raises(TamperedValue):
        unseal(Sealed("ys1$p$k1$!!$!!"), "x", using=keys)


def test_rotation_rewraps_the_data_key_and_keeps_the_ciphertext() -> None:
    old = key()
    before = load_keys(settings(data_keys={"k1": old}))
    token = seal("李四", "project.contact_name", using=before)
    after = load_keys(settings(data_keys={"k1": old, "k2": key()}, data_key_active="k2"))
    moved = rewrap(token, "project.contact_name", using=after)
    assert sealed_key_id(moved) == ("personal", "k2")
    assert moved.rsplit("$", 1)[1] == token.rsplit("$", 1)[1]  # the value's ciphertext is kept
    assert rewrap(moved, "project.contact_name", using=after) == moved
    new_only = {"k2": base64.b64encode(after.personal.keys["k2"]).decode()}
    only_new = load_keys(settings(data_keys=new_only))
    assert unseal(Sealed(moved), "project.contact_name", using=only_new) == "李四"


def test_blind_indexes_are_keyed_and_separate_purposes() -> None:
    keys = load_keys(settings())
    digest = blind_index("phone", "13812345678", using=keys)
    assert len(digest) == 64
    assert digest == blind_index("phone", "13812345678", using=keys)
    assert digest != blind_index("uscc", "13812345678", using=keys)
    assert digest != blind_index("phone", "13812345678", using=load_keys(settings()))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"data_keys": {}}, "DATA_KEYS is empty"),
        ({"data_keys": {"k1": "not base64!"}}, "not base64"),
        ({"data_keys": {"k1": base64.b64encode(b"short").decode()}}, "16 bytes"),
        ({"data_keys": {"a": key(), "b": key()}}, "DATA_KEYS_ACTIVE"),
        ({"data_keys": {"a": key()}, "data_key_active": "z"}, "DATA_KEYS_ACTIVE"),
        ({"confidential_keys": {}}, "CONFIDENTIAL_KEYS is empty"),
        ({"blind_index_key": None}, "BLIND_INDEX_KEY"),
        ({"blind_index_key": base64.b64encode(b"x" * 8).decode()}, "32 bytes"),
        ({"data_keys": {"bad id!": key()}}, "key id"),
    ],
)
def test_production_refuses_missing_or_malformed_keys(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(CryptoConfigError, match=message):
        load_keys(settings(**overrides))
    with pytest.raises(RuntimeError, match="field encryption keys"):
        settings(**overrides).check_production()


def test_rings_must_not_share_a_key() -> None:
    shared = key()
    with pytest.raises(CryptoConfigError, match="reuse"):
        load_keys(settings(data_keys={"k1": shared}, confidential_keys={"c1": shared}))


def test_development_derives_stable_keys_from_the_secret() -> None:
    dev = CommonSettings.model_validate({"env": "development", "secret_key": "s" * 40})
    assert load_keys(dev) == load_keys(dev)
    assert load_keys(dev).personal.active == "dev"


def test_the_column_type_seals_by_ring_and_opens_only_personal_values() -> None:
    column = SealedText("issue.submitter_name")
    dialect = None
    personal = column.process_bind_param("王五", dialect)  # type: ignore[arg-type]
    confidential = column.process_bind_param(ConfidentialText("赵六"), dialect)  # type: ignore[arg-type]
    assert personal is not None
    assert confidential is not None
    assert "王五" not in personal
    assert "赵六" not in confidential
    assert column.process_result_value(personal, dialect) == "王五"  # type: ignore[arg-type]
    loaded = column.process_result_value(confidential, dialect)  # type: ignore[arg-type]
    assert isinstance(loaded, Sealed)
    assert "赵六" not in repr(loaded)
    assert "赵六" not in str(loaded)
    assert unseal(loaded, "issue.submitter_name") == "赵六"
    # Written back unchanged, never re-sealed under the personal ring.
    assert column.process_bind_param(loaded, dialect) == confidential  # type: ignore[arg-type]
    assert column.process_result_value("未加密的旧值", dialect) == "未加密的旧值"  # type: ignore[arg-type]

    plain = SealedText("issue.title", "plain")
    assert plain.process_bind_param("标题", dialect) == "标题"  # type: ignore[arg-type]
    sealed = plain.process_bind_param(PersonalText("举报内容"), dialect)  # type: ignore[arg-type]
    assert sealed is not None
    assert sealed.startswith(PREFIX)
    assert plain.process_result_value(sealed, dialect) == "举报内容"  # type: ignore[arg-type]
    # A plain value that looks sealed is escaped on the way in and back on the way out.
    tricky = plain.process_bind_param(PlainText(PREFIX + "p$k$x$y"), dialect)  # type: ignore[arg-type]
    assert plain.process_result_value(tricky, dialect) == PREFIX + "p$k$x$y"  # type: ignore[arg-type]
