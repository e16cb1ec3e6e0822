"""A poll's documents read once and written once: the in-memory side of a batch consumer (ADR 0155).

A batch handler (:meth:`yima_kit.consumer.EventConsumers.subscribe_batch`) applies many events to few documents —
a case's facts are written by every event of the case. :class:`DocumentBuffer` stands in for one collection inside
the batch's transaction: :meth:`load` reads the batch's documents in ONE ``$in`` query, ``find_one`` and
``update_one`` by ``_id`` are answered and applied in memory (``$set``, ``$unset``, ``$push``, ``$addToSet``,
``$inc``, ``$setOnInsert``; dotted paths), ``insert_one`` is kept, and :meth:`flush` writes every changed
document with ONE ``bulk_write`` (a whole-document replace, an upsert for one an upsert created; ``insert_one``'s
as inserts, so a duplicate key still fails) in the same transaction.

Anything else (another filter, another operator, ``update_many``) is not guessed at: the buffer writes what it
holds first, forgets it, and hands the call to the real collection — correct, only not cheaper. Because the
documents are read and replaced inside the transaction, a concurrent writer of the same document (a staff
request) makes one of the two transactions fail with a write conflict and retry: nothing is overwritten blind.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import InsertOne, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

Doc = dict[str, Any]
_SUPPORTED = frozenset({"$set", "$unset", "$push", "$addToSet", "$inc", "$setOnInsert"})


@dataclass(frozen=True)
class Result:
    """What ``update_one`` answers (the fields the services read)."""

    matched_count: int
    modified_count: int
    upserted_id: Any = None


class _Missing:
    pass


_MISSING = _Missing()


def _get(doc: Mapping[str, Any], path: str) -> Any:
    cur: Any = doc
    for part in path.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


def _parent(doc: Doc, path: str) -> tuple[Doc, str]:
    *head, last = path.split(".")
    cur = doc
    for part in head:
        nxt = cur.get(part)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[part] = nxt
        cur = nxt
    return cur, last


def apply_update(doc: Doc, update: Mapping[str, Any], *, inserting: bool = False) -> bool:
    """Apply an update document to ``doc`` in place, as the server would (the operators above); False when it
    holds something this function does not do (the caller then asks the server)."""
    if not update or any(op not in _SUPPORTED for op in update):
        return False
    for op, fields in update.items():
        if not isinstance(fields, Mapping):
            return False
        for path, value in fields.items():
            if path == "_id" or path.startswith("_id."):
                return False
            if op in ("$push", "$addToSet") and isinstance(value, Mapping) and any(k.startswith("$") for k in value):
                return False  # $each, $slice, …: not here
    for op, fields in update.items():
        if op == "$setOnInsert" and not inserting:
            continue
        for path, value in fields.items():
            parent, key = _parent(doc, path)
            if op in ("$set", "$setOnInsert"):
                parent[key] = copy.deepcopy(value)
            elif op == "$unset":
                parent.pop(key, None)
            elif op == "$inc":
                parent[key] = parent.get(key, 0) + value
            elif op == "$push":
                parent.setdefault(key, []).append(copy.deepcopy(value))
            elif op == "$addToSet":
                items = parent.setdefault(key, [])
                if value not in items:
                    items.append(copy.deepcopy(value))
    return True


def _by_id(filter_: Mapping[str, Any]) -> Any:
    """The ``_id`` a filter picks, when it is nothing but an ``_id`` equality."""
    if set(filter_) != {"_id"}:
        return _MISSING
    value = filter_["_id"]
    if isinstance(value, Mapping):
        return _MISSING
    return value


def _project(doc: Doc, projection: Mapping[str, Any] | Iterable[str] | None) -> Doc:
    if not projection:
        return copy.deepcopy(doc)
    fields = list(projection) if not isinstance(projection, Mapping) else [k for k, v in projection.items() if v]
    out: Doc = {"_id": doc["_id"]}
    for path in fields:
        value = _get(doc, path)
        if value is _MISSING:
            continue
        parent, key = _parent(out, path)
        parent[key] = copy.deepcopy(value)
    return out


class DocumentBuffer:
    """One collection's documents of a batch, in memory, inside the batch's transaction (see the module)."""

    def __init__(self, col: AsyncCollection[Any], session: AsyncClientSession | None) -> None:
        self.col = col
        self.session = session
        self._docs: dict[Any, Doc | None] = {}  # _id → document (None: known not to exist)
        self._stored: set[Any] = set()  # ids that exist in the database (replace) vs new ones (insert)
        self._dirty: set[Any] = set()
        self._inserted: set[Any] = set()  # new by insert_one (a duplicate must fail), not by an upsert

    async def load(self, ids: Iterable[Any]) -> None:
        """Read the documents of ``ids`` not held yet, in one query."""
        wanted = [i for i in dict.fromkeys(ids) if i not in self._docs]
        if not wanted:
            return
        async for d in self.col.find({"_id": {"$in": wanted}}, session=self.session):
            self._docs[d["_id"]] = d
            self._stored.add(d["_id"])
        for i in wanted:
            self._docs.setdefault(i, None)

    async def _doc(self, _id: Any) -> Doc | None:
        if _id not in self._docs:
            await self.load([_id])
        return self._docs[_id]

    async def find_one(self, filter_: Mapping[str, Any], projection: Any = None, *,
                       session: AsyncClientSession | None = None, **kwargs: Any) -> Doc | None:
        _id = _by_id(filter_)
        if _id is _MISSING or kwargs:
            await self._hand_over()
            found: Doc | None = await self.col.find_one(filter_, projection, session=self.session, **kwargs)
            return found
        doc = await self._doc(_id)
        return _project(doc, projection) if doc is not None else None

    async def update_one(self, filter_: Mapping[str, Any], update: Mapping[str, Any], *, upsert: bool = False,
                         session: AsyncClientSession | None = None, **kwargs: Any) -> Result:
        _id = _by_id(filter_)
        if _id is not _MISSING and not kwargs:
            doc = await self._doc(_id)
            if doc is None and not upsert:
                return Result(0, 0)
            target = copy.deepcopy(doc) if doc is not None else {"_id": _id}
            if apply_update(target, update, inserting=doc is None):
                self._docs[_id] = target
                self._dirty.add(_id)
                return Result(1 if doc is not None else 0, 1, None if doc is not None else _id)
        await self._hand_over()
        res = await self.col.update_one(filter_, update, upsert=upsert, session=self.session, **kwargs)
        return Result(res.matched_count, res.modified_count, res.upserted_id)

    async def insert_one(self, doc: Doc, *, session: AsyncClientSession | None = None) -> None:
        _id = doc["_id"]
        if self._docs.get(_id) is not None:
            await self._hand_over()  # the server says what a duplicate key does
            await self.col.insert_one(doc, session=self.session)
            return
        # Not read first (a new document has a new id): a duplicate fails the flush, and with it the batch,
        # which the consumer then retries event by event.
        self._docs[_id] = copy.deepcopy(doc)
        self._dirty.add(_id)
        self._inserted.add(_id)

    async def flush(self) -> int:
        """Write every changed document in one ``bulk_write``; returns how many."""
        ops: list[Any] = []
        for _id in self._dirty:
            doc = self._docs[_id]
            if doc is None:
                continue
            if _id in self._inserted:
                ops.append(InsertOne(doc))
            else:  # an upsert stays one: a concurrent creator of the same document is a write conflict, retried
                ops.append(ReplaceOne({"_id": _id}, doc, upsert=_id not in self._stored))
        if ops:
            await self.col.bulk_write(ops, ordered=True, session=self.session)
        self._stored.update(i for i in self._dirty if self._docs.get(i) is not None)
        self._dirty.clear()
        self._inserted.clear()
        return len(ops)

    def held(self) -> list[Doc]:
        """Every document the buffer holds now (as the batch has changed them), for a query to overlay."""
        return [d for d in self._docs.values() if d is not None]

    async def _hand_over(self) -> None:
        """Before the real collection answers: what we hold is written, and forgotten (the server may change it)."""
        await self.flush()
        self._docs.clear()
        self._stored.clear()

    def find(self, filter_: Mapping[str, Any], projection: Any = None, *,
             session: AsyncClientSession | None = None) -> _Cursor:
        """A query of the collection (by any filter) that sees the batch's writes: what is held is written first."""
        return _Cursor(self, filter_, projection)

    async def update_many(self, filter_: Mapping[str, Any], update: Mapping[str, Any], *,
                          session: AsyncClientSession | None = None, **kwargs: Any) -> Any:
        await self._hand_over()
        return await self.col.update_many(filter_, update, session=self.session, **kwargs)


class _Cursor:
    """``find(...).sort(...).limit(...)`` of a :class:`DocumentBuffer`: flushes, then asks the server."""

    def __init__(self, buffer: DocumentBuffer, filter_: Mapping[str, Any], projection: Any) -> None:
        self.buffer, self.filter, self.projection = buffer, filter_, projection
        self._sort: Any = None
        self._limit = 0

    def sort(self, key: Any, direction: Any = None) -> _Cursor:
        self._sort = [(key, direction)] if direction is not None else key
        return self

    def limit(self, n: int) -> _Cursor:
        self._limit = n
        return self

    async def __aiter__(self) -> AsyncIterator[Doc]:
        await self.buffer.flush()
        cursor = self.buffer.col.find(self.filter, self.projection, session=self.buffer.session)
        if self._sort is not None:
            cursor = cursor.sort(self._sort)
        if self._limit:
            cursor = cursor.limit(self._limit)
        async for d in cursor:
            yield d
