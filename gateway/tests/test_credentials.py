"""Secrets come only from $CREDENTIALS_DIRECTORY/<name> (systemd LoadCredentialEncrypted=)."""

import pytest

from imip_gateway import credentials


def test_strips_exactly_one_trailing_newline(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "imip-gateway.smtp").write_bytes(b"s3cret pass\n\n")
    (tmp_path / "imip-gateway.imap").write_bytes(b"other")
    assert credentials.read_secret("imip-gateway.smtp") == "s3cret pass\n"
    assert credentials.read_secret("imip-gateway.imap") == "other"


def test_missing_directory_and_file_are_named(tmp_path, monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    with pytest.raises(credentials.CredentialError, match=r"\$CREDENTIALS_DIRECTORY is not set"):
        credentials.read_secret("imip-gateway.smtp")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(credentials.CredentialError, match="credential imip-gateway.caldav not found"):
        credentials.read_secret("imip-gateway.caldav")
    with pytest.raises(credentials.CredentialError, match="not a plain file name"):
        credentials.read_secret("../etc/shadow")


def test_empty_secret_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    (tmp_path / "imip-gateway.smtp").write_bytes(b"\n")
    with pytest.raises(credentials.CredentialError, match="is empty"):
        credentials.read_secret("imip-gateway.smtp")
