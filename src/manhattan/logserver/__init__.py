"""``manhattan-log-server``: drain the Redis list that :class:`~manhattan.log.remote.RemoteLog`
pushes to into a ``TimeRotatingLog``, losing nothing and writing nothing twice
however the server is killed.

How it is safe
--------------

Two Redis lists and one small state file take part: the queue ``KEY`` that
app servers ``RPUSH`` to, the processing list ``KEY:processing``, and
``LOGPATH.logserver-state`` next to the log, which is either absent
("idle") or holds an *intent*: the hash of the batch of entries being
written, how many entries it is and how long the processing list was with
them, the hour file it goes to, the byte offset where it starts and its
length. Each cycle runs these steps, every one atomic on its own:

1. If the processing list is empty and the state is an intent, clear it.
2. If the processing list is empty, rename the queue to it once the queue
   has entries (``RENAMENX``: an entry is in exactly one list; app servers
   go on pushing to a new queue).
3. Read the first ``--batch`` entries of the processing list and its
   length; if the state's intent is for exactly these entries and that
   length, go to 5 (recovery); otherwise (fresh) validate them, and for
   the valid records write the intent (temporary file, fsync, rename,
   fsync of the directory).
4. Append the records to the hour file and fsync it.
5. (Recovery) read the bytes at the intent's offset: the part of the batch
   already there is kept and only the rest is appended, then fsynced.
6. Remove the batch from the head of the processing list (``LTRIM``).
7. Clear the intent (unlink, fsync of the directory).

A kill at any moment leaves the server between two steps. An entry leaves
Redis only at 6, after its records were fsynced at 4 or 5: nothing is
lost. Records are appended only at 4 (fresh) or 5 (recovery). Fresh
happens only when no intent matches the entries, so before this batch
reached step 3: nothing of it is in the log yet. Recovery appends exactly
the bytes that are missing at the recorded offset: a kill after 4 (the
whole batch there) appends nothing, a kill inside 4's write (a short write)
appends the rest. A kill between 6 and 7 leaves an intent whose batch is
gone, and the next entries may hold the very same payloads: the length
tells them apart, since between two renames the processing list only
shrinks, by each batch at its step 6, so it is never again as long as the
intent says; and step 1 clears such an intent before the next rename. So
each record is in the log exactly once.

Redis refuses commands that may need memory when it is at ``maxmemory``
(``RPUSH``, ``LMOVE``), but none of the steps above needs any (``LRANGE``,
``LLEN``, ``RENAMENX``, ``LTRIM``): the server drains a full Redis, which
frees the memory app servers need to push again.

This holds for one log server per queue and per log path, and when nothing
else writes to the log path. A state that records an intent for another
queue stops the server at start (exit 2) rather than guess. Bad entries
(not JSON, not a list of records) are logged, counted and removed with
their batch, so they never block the queue.

Modules: :mod:`~manhattan.logserver.protocol` (the intent and the choice
of step 3, pure), :mod:`~manhattan.logserver.server` (the steps, the files
and the loop), :mod:`~manhattan.logserver.cli` (the command line; it also
re-exports the names the other two define, where they were before).
"""
