"""``manhattan-log-server``: drain the Redis list that :class:`~manhattan.log.remote.RemoteLog`
pushes to into a ``TimeRotatingLog``, losing nothing and writing nothing twice
however the server is killed.

How it is safe
--------------

Two Redis lists and one small state file take part: the queue ``KEY`` that
app servers ``RPUSH`` to, the processing list ``KEY:processing``, and
``LOGPATH.logserver-state`` next to the log, which is either absent
("idle") or holds an *intent*: the hash of the batch of entries being
written, the hour file it goes to, the byte offset where it starts and its
length. Each cycle runs these steps, every one atomic on its own:

1. If the processing list is empty and the state is an intent, clear it.
2. Move up to ``--batch`` entries from the queue's left end onto the
   processing list (``BLMOVE``/``LMOVE``: an entry is in exactly one list).
3. Read the processing list; if the state's intent is for exactly these
   entries, go to 5 (recovery); otherwise (fresh) validate them, and for
   the valid records write the intent (temporary file, fsync, rename, fsync
   of the directory).
4. Append the records to the hour file and fsync it.
5. (Recovery) read the bytes at the intent's offset: the part of the batch
   already there is kept and only the rest is appended, then fsynced.
6. Delete the processing list.
7. Clear the intent (unlink, fsync of the directory).

A kill at any moment leaves the server between two steps. An entry leaves
Redis only at 6, after its records were fsynced at 4 or 5: nothing is
lost. Records are appended only at 4 (fresh) or 5 (recovery). Fresh
happens only when no intent matches the entries, so before this batch
reached step 3: nothing of it is in the log yet. Recovery appends exactly
the bytes that are missing at the recorded offset: a kill after 4 (the
whole batch there) appends nothing, a kill inside 4's write (a short write)
appends the rest. Step 1 keeps a stale intent (a kill between 6 and 7) from
matching a new batch that happens to hold the same payloads, and 7 happens
before the next 2 for the same reason. So each record is in the log exactly
once.

This holds for one log server per queue and per log path, and when nothing
else writes to the log path. A state that records an intent for another
queue stops the server at start (exit 2) rather than guess. Bad entries
(not JSON, not a list of records) are logged, counted and removed with
their batch, so they never block the queue.
"""
