"""The SQL store: counters, visitor states and the log pointer, committed
together, and the read-only queries over them (SQLAlchemy 2 Core).

:class:`SQLStore` implements :class:`~manhattan.backend.model.Store`, and
the reads of :class:`~manhattan.backend.model.Queries` but ``analyze``
(which the server computes from its ``test_stats``: see
:class:`~manhattan.server.service.StoreQueries`), on SQLite (the default, a
file) or PostgreSQL (``postgresql+psycopg://user@host/database``, psycopg 3).

Durability on SQLite: the journal is a WAL with ``synchronous=NORMAL``. A
commit is in the WAL file when :meth:`SQLStore.commit` returns, so it
survives the process being killed at any moment (``kill -9``). A power loss
or an OS crash may undo the last few commits (never corrupting the file);
as the log pointer is committed with the counts it belongs to, a restart
then resumes from the older pointer and counts those events again, so the
totals still come out exact as long as the log files themselves survived.
``synchronous=FULL`` would cost an fsync per commit for no gain in that
respect. On PostgreSQL, durability is the server's (``fsync``,
``synchronous_commit``).

Concurrency: queries may run on other threads than commits. Every
transaction checks out its own pooled connection; readers see committed data
only (SQLite: WAL snapshots; PostgreSQL: ``REPEATABLE READ READ ONLY``), and
a query of several statements, such as :meth:`SQLStore.results`, reads one
snapshot.

Tables (schema version :data:`SCHEMA_VERSION`, recorded in ``meta``):
``meta(key, value)`` (the schema version, the log pointer); ``counts`` keyed
by (rollup, bucket, site, goal, test, population) with visitors, value total
and sum of squares; ``goals``; ``tests`` (weights as JSON); ``visitors(id,
state)``; ``filtered(reason, events)``; ``leases(name, holder, host, pid,
since, expires)`` (:mod:`~manhattan.backend.persistence.lease`).
"""

from manhattan.backend.persistence.engine import StoreError
from manhattan.backend.persistence.queries import counter_key, goal_value_of
from manhattan.backend.persistence.schema import SCHEMA_VERSION
from manhattan.backend.persistence.store import VISITOR_CHUNK, SQLStore

__all__ = [
    "SCHEMA_VERSION",
    "VISITOR_CHUNK",
    "SQLStore",
    "StoreError",
    "counter_key",
    "goal_value_of",
]
