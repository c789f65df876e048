"""One error hierarchy: every class under ManhattanError, keeping the
builtin base callers catch, importable where it always was."""

from __future__ import annotations

import importlib

import pytest

from manhattan import exceptions
from manhattan.backend.persistence.lease import LeaseLostError
from manhattan.exceptions import ManhattanError


@pytest.mark.parametrize(
    ("module", "name", "builtin"),
    [
        pytest.param("manhattan.backend.model", "QueryError", ValueError, id="QueryError"),
        pytest.param(
            "manhattan.backend.persistence.engine", "StoreError", RuntimeError, id="StoreError"
        ),
        pytest.param(
            "manhattan.backend.persistence",
            "StoreError",
            RuntimeError,
            id="StoreError-package",
        ),
        pytest.param(
            "manhattan.backend.persistence.engine",
            "TransientStoreError",
            RuntimeError,
            id="TransientStoreError",
        ),
        pytest.param(
            "manhattan.backend.persistence.engine",
            "CommitRefusedError",
            RuntimeError,
            id="CommitRefusedError",
        ),
        pytest.param("manhattan.server.config", "ConfigError", ValueError, id="ConfigError"),
        pytest.param("manhattan.server.service", "ServiceError", OSError, id="ServiceError"),
        pytest.param("manhattan.server.service", "BindError", OSError, id="BindError"),
        pytest.param("manhattan.server.service", "RequestError", Exception, id="RequestError"),
        pytest.param("manhattan.logserver.cli", "StartError", Exception, id="StartError"),
        pytest.param("manhattan.keys", "KeyFileError", ValueError, id="KeyFileError"),
        pytest.param("manhattan.log.text", "MalformedLineError", ValueError, id="MalformedLine"),
        pytest.param("manhattan.log.remote", "RemoteLogError", OSError, id="RemoteLogError"),
        pytest.param("manhattan.log.remote", "PayloadError", ValueError, id="PayloadError"),
        pytest.param(
            "manhattan.log.streamreader",
            "PartitionsRevokedError",
            Exception,
            id="PartitionsRevokedError",
        ),
        pytest.param("manhattan.client", "ServerError", Exception, id="ServerError"),
        pytest.param(
            "manhattan.dashboard.params", "ParameterError", Exception, id="ParameterError"
        ),
        pytest.param(
            "manhattan.dashboard.params", "UnknownNameError", LookupError, id="UnknownNameError"
        ),
    ],
)
def test_error_is_declared_once_under_the_root(module: str, name: str, builtin: type) -> None:
    declared = getattr(exceptions, name)

    assert getattr(importlib.import_module(module), name) is declared
    assert issubclass(declared, ManhattanError)
    assert issubclass(declared, builtin)
    assert name in exceptions.__all__


def test_every_declared_error_is_under_the_root() -> None:
    declared = [getattr(exceptions, name) for name in exceptions.__all__]

    assert all(issubclass(error, ManhattanError) for error in declared)
    assert ManhattanError in declared


def test_lease_lost_error_is_under_the_root_and_a_runtime_error() -> None:
    # Declared beside the lease rows its message describes.
    error = LeaseLostError(["log"], {})

    assert isinstance(error, ManhattanError)
    assert isinstance(error, RuntimeError)
    assert str(error) == "lease log was lost (released)"


@pytest.mark.parametrize(
    ("error", "text"),
    [
        pytest.param(
            exceptions.RequestError("MalformedRequest", "not JSON"), "not JSON", id="request"
        ),
        pytest.param(
            exceptions.ServerError("QueryError", "no goal"), "QueryError: no goal", id="server"
        ),
        pytest.param(
            exceptions.PartitionsRevokedError([3, 1]),
            "partitions [1, 3] were taken over",
            id="partitions",
        ),
    ],
)
def test_errors_with_fields_say_what_happened(error: ManhattanError, text: str) -> None:
    assert str(error) == text
