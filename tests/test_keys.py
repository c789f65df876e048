"""manhattan-keys: key pairs in pyzmq's certificate files, and loading them."""

from __future__ import annotations

import os
import runpy
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import zmq

from manhattan.keys import KeyFileError, create_key_pair, load_public_key, load_secret_key, main
from tests.cli_output import error_line


@dataclass
class Keys:
    """A server's pair, an admitted client's pair and a stranger's pair, made
    by manhattan-keys; ``clients`` holds only the admitted client's public key."""

    server_public: Path
    server_secret: Path
    client_public: Path
    client_secret: Path
    stranger_public: Path
    stranger_secret: Path
    clients: Path


def make_keys(directory: Path) -> Keys:
    """Fresh key files in ``directory``."""
    server = create_key_pair(directory, "server")
    client = create_key_pair(directory, "client")
    stranger = create_key_pair(directory, "stranger")
    clients = directory / "clients"
    clients.mkdir()
    (clients / "client.key").write_bytes(client[0].read_bytes())
    return Keys(*server, *client, *stranger, clients)


def test_a_pair_is_two_files_whose_keys_match(tmp_path: Path) -> None:
    public, secret = create_key_pair(tmp_path, "server")

    assert (public.name, secret.name) == ("server.key", "server.key_secret")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    public_key, secret_key = load_secret_key(secret)
    assert load_public_key(public) == public_key
    assert load_public_key(secret) == public_key
    assert zmq.curve_public(secret_key) == public_key


def test_existing_files_are_not_replaced(tmp_path: Path) -> None:
    public, _ = create_key_pair(tmp_path, "server")
    before = public.read_bytes()

    with pytest.raises(FileExistsError, match=r"server\.key already exists"):
        create_key_pair(tmp_path, "server")
    assert public.read_bytes() == before


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("", id="empty"),
        pytest.param(f"a{os.sep}b", id="path"),
        pytest.param("..", id="parent"),
    ],
)
def test_a_name_must_be_a_plain_file_name(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="plain file name"):
        create_key_pair(tmp_path, name)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "does not exist", id="missing"),
        pytest.param(b"# nothing\n", "holds no public key", id="no-key"),
        pytest.param(b"public-key = \xff\xfe\n", "malformed key", id="not-ascii"),
        pytest.param(b'public-key = "short"\n', "malformed key", id="short"),
        pytest.param(b'public-key = "' + b"~" * 40 + b'"\n', "malformed key", id="not-z85"),
        pytest.param(b'public-key = "' + b"#" * 40 + b'"\n', "malformed key", id="too-big"),
    ],
)
def test_unusable_key_files_name_the_file(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "bad.key"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(KeyFileError, match=message) as raised:
        load_public_key(path)
    assert str(path) in str(raised.value)


def test_a_directory_is_not_a_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"cannot read curve key file .*Is a directory"):
        load_public_key(tmp_path)


def test_a_public_key_file_is_not_a_secret_key(tmp_path: Path) -> None:
    public, _ = create_key_pair(tmp_path, "server")

    with pytest.raises(KeyFileError, match="holds no secret key"):
        load_secret_key(public)


def test_the_command_writes_a_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", "--dir", str(tmp_path)]) == 0

    out = capsys.readouterr().out
    assert f"public key: {tmp_path / 'dashboard.key'}\n" in out
    assert f"secret key: {tmp_path / 'dashboard.key_secret'} (keep it private" in out
    load_secret_key(tmp_path / "dashboard.key_secret")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["server"], "already exists", id="exists"),
        pytest.param(["x", "--dir", "missing"], "No such file or directory", id="no-dir"),
        pytest.param(["a/b"], "plain file name", id="bad-name"),
    ],
)
def test_the_command_refuses_with_a_usage_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    create_key_pair(tmp_path, "server")

    assert main(argv) == 2

    assert message in error_line(capsys.readouterr(), "manhattan-keys")


def test_python_dash_m(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["manhattan-keys", "server", "--dir", str(tmp_path)])
    # Run afresh, as ``-m`` does (runpy warns about a module already imported).
    monkeypatch.delitem(sys.modules, "manhattan.keys", raising=False)
    with pytest.raises(SystemExit) as raised:
        runpy.run_module("manhattan.keys", run_name="__main__", alter_sys=True)

    assert raised.value.code == 0
    assert (tmp_path / "server.key_secret").exists()
