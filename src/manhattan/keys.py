"""CurveZMQ keys for the query port: ``manhattan-keys NAME [--dir DIR]``
(also ``python -m manhattan.keys``).

It writes two certificate files in pyzmq's format (:mod:`zmq.auth`):
``NAME.key`` holds the public key, ``NAME.key_secret`` the public and the
secret key (readable by its owner only). Make one pair for the server
(``manhattan-server --curve-secret-key server.key_secret``; its clients get
``server.key`` as ``--curve-server-key``) and one per client
(``--curve-secret-key client.key_secret``; the server lists the clients it
answers by their ``.key`` files in ``--curve-clients DIR``).
"""

from __future__ import annotations

import argparse
import glob
import os
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

import zmq.auth
import zmq.utils.z85

from manhattan import _cli
from manhattan.exceptions import KeyFileError as KeyFileError

PROGRAM = "manhattan-keys"
KEY_LENGTH = 40
"""Characters of a Z85-encoded Curve key."""


def create_key_pair(directory: str | os.PathLike[str], name: str) -> tuple[Path, Path]:
    """Write ``NAME.key`` and ``NAME.key_secret`` in ``directory``; their paths.

    :class:`FileExistsError` rather than replacing a pair (whoever holds the
    old public key would be locked out).
    """
    if not name or os.sep in name or name in (".", ".."):
        raise ValueError(f"a key name must be a plain file name, not {name!r}")
    folder = Path(directory)
    for path in (folder / f"{name}.key", folder / f"{name}.key_secret"):
        if path.exists():
            raise FileExistsError(f"{path} already exists: pick another name or directory")
    public, secret = zmq.auth.create_certificates(folder, name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def load_public_key(path: str | os.PathLike[str]) -> bytes:
    """The public key in a certificate file (``.key`` or ``.key_secret``)."""
    public, _ = _load(path)
    return public


def load_secret_key(path: str | os.PathLike[str]) -> tuple[bytes, bytes]:
    """``(public, secret)`` of a ``.key_secret`` certificate file."""
    public, secret = _load(path)
    if secret is None:
        raise KeyFileError(
            f"curve key file {os.fspath(path)} holds no secret key "
            "(a .key file is the public half: pass the .key_secret file)"
        )
    return public, secret


def check_clients_directory(path: str | os.PathLike[str]) -> None:
    """:class:`KeyFileError` unless ``path`` is a directory holding public
    key (``*.key``) files, as the server's ``--curve-clients``."""
    folder = os.fspath(path)
    if not os.path.isdir(folder):
        raise KeyFileError(f"curve clients directory {folder} does not exist")
    if not glob.glob(os.path.join(glob.escape(folder), "*.key")):
        raise KeyFileError(
            f"curve clients directory {folder} holds no public key (*.key) files: "
            "no client could be answered"
        )


def _load(path: str | os.PathLike[str]) -> tuple[bytes, bytes | None]:
    name = os.fspath(path)
    if not os.path.exists(name):
        raise KeyFileError(f"curve key file {name} does not exist (make one with manhattan-keys)")
    try:
        public, secret = zmq.auth.load_certificate(name)
    except OSError as exc:
        raise KeyFileError(f"cannot read curve key file {name}: {exc}") from None
    except ValueError:
        raise KeyFileError(f"curve key file {name} holds no public key") from None
    for key in (public, secret):
        if key is not None and not _is_key(key):
            raise KeyFileError(f"curve key file {name} holds a malformed key")
    return public, secret


def _is_key(key: bytes) -> bool:
    if len(key) != KEY_LENGTH:
        return False
    try:
        zmq.utils.z85.decode(key)
    except (KeyError, struct.error):  # a character outside Z85, a value too big
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``manhattan-keys``; the exit status (2: nothing written)."""
    return _cli.run(PROGRAM, lambda: _main(argv))


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (the documentation is generated from it)."""
    parser = _cli.Parser(
        prog=PROGRAM,
        description="Make a CurveZMQ key pair for the query port: NAME.key (public) "
        "and NAME.key_secret (secret).",
    )
    parser.add_argument("name", help="the pair's name, e.g. server, dashboard, reports")
    parser.add_argument("--dir", default=".", help="the directory to write to (default .)")
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    try:
        public, secret = create_key_pair(args.dir, args.name)
    except (OSError, ValueError) as exc:
        _cli.fail(exc)
    print(f"public key: {public}\nsecret key: {secret} (keep it private: only its owner reads it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
