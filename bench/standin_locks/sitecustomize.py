"""Measurement only: wraps the stand-in's serial locks in :class:`locks.TimedLock` when the server process starts
with ``SECANTUS_LOCKSTATS=<file>`` and this folder on ``PYTHONPATH`` (``bench/ops_per_case.py --locks`` does both).
Any other Python process that imports this (the services, started with the same environment) has no ``secantus``
and is left alone."""

import os
import sys
import threading

_OUT = os.environ.get("SECANTUS_LOCKSTATS")
if _OUT:
    try:
        import secantus.commands as _commands
        import secantus.storage as _storage
        import secantus.transactions as _transactions
    except ImportError:
        _commands = None
    if _commands is not None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from locks import Recorder, TimedLock

        _rec = Recorder()
        _here = threading.local()  # the statement (txn) or storage call (storage) this thread is running

        def _txn_key(taker):
            return getattr(_here, "statement", None) or taker

        def _storage_key(taker):
            call = getattr(_here, "call", None)  # "find_matching db.coll{fields}"
            return (call if call.startswith(f"{taker} ") else f"{taker} in {call}") if call else taker

        def _wrap_init(cls, attr, family, key_of=lambda taker: taker):
            init = cls.__init__

            def __init__(self, *a, **k):
                init(self, *a, **k)
                setattr(self, attr, TimedLock(getattr(self, attr), family, _rec, key_of))
            cls.__init__ = __init__

        _wrap_init(_storage.Storage, "_lock", "storage", _storage_key)
        _wrap_init(_transactions.TransactionRegistry, "_lock", "registry")
        _wrap_init(_transactions.Transaction, "mutex", "txn", _txn_key)

        _run = _commands._run_txn_statement

        def _run_txn_statement(txn, handler, doc, ctx):
            name = next(iter(doc), "?")
            _here.statement = f"{name} {doc.get('$db')}.{doc.get(name)}"
            try:
                return _run(txn, handler, doc, ctx)
            finally:
                _here.statement = None
        _commands._run_txn_statement = _run_txn_statement

        def _named(method):
            orig = getattr(_storage.Storage, method)

            def call(self, db, coll, *a, **k):
                prev = getattr(_here, "call", None)
                flt = a[0] if a and isinstance(a[0], dict) else k.get("filter")
                shape = "{" + ",".join(sorted(flt)) + "}" if isinstance(flt, dict) else ""
                _here.call = f"{method} {db}.{coll}{shape}"
                try:
                    return orig(self, db, coll, *a, **k)
                finally:
                    _here.call = prev
            setattr(_storage.Storage, method, call)
        for _m in ("find_matching", "count_matching", "update_matching", "delete_matching", "insert"):
            if hasattr(_storage.Storage, _m):
                _named(_m)

        _rec.dump_every(_OUT)
        if os.environ.get("SECANTUS_SWITCHINTERVAL"):  # an experiment: the server's threads take turns this often
            sys.setswitchinterval(float(os.environ["SECANTUS_SWITCHINTERVAL"]))
