"""twat-cache-sqlalchemy: SQLite and the harness' PostgreSQL, results on memory:// and Redis."""

from __future__ import annotations

import re
import sys
import time
import types
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Engine,
    ForeignKey,
    String,
    create_engine,
    delete,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
    sessionmaker,
)
from twat_cache import Cache, ConfigurationError
from twat_cache_sqlalchemy import FromCache, QueryCache, class_tag


class Base(DeclarativeBase):
    pass


class Person(Base):
    __tablename__ = "twat_people"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    pets: Mapped[list[Pet]] = relationship(back_populates="owner", order_by="Pet.id")


class Pet(Base):
    __tablename__ = "twat_pets"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    owner_id: Mapped[int] = mapped_column(ForeignKey("twat_people.id"))
    owner: Mapped[Person] = relationship(back_populates="pets")


class Statements:
    """Counts the SQL statements an engine sends."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


@pytest.fixture(params=["sqlite+memory", "postgres+redis"])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if request.param == "postgres+redis":
        database: str = request.getfixturevalue("postgres_server").url
        cache_url: str = request.getfixturevalue("redis_server").url
        yield database.replace("postgresql://", "postgresql+psycopg://", 1), cache_url
    else:
        yield f"sqlite:///{tmp_path / 'orm.db'}", "memory://"


@pytest.fixture
def cache(setup: tuple[str, str]) -> Iterator[Cache]:
    made = Cache(setup[1], namespace=f"sa-{time.monotonic_ns() % 10**12}")
    yield made
    made.clear()
    made.close()


@pytest.fixture
def engine(setup: tuple[str, str]) -> Iterator[Engine]:
    made = create_engine(setup[0])
    Base.metadata.drop_all(made)
    Base.metadata.create_all(made)
    with Session(made) as session:
        ada = Person(id=1, name="ada", pets=[Pet(id=1, name="rex")])
        session.add_all([ada, Person(id=2, name="grace")])
        session.commit()
    yield made
    Base.metadata.drop_all(made)
    made.dispose()


def _maker(
    engine: Engine, cache: Cache, **options: Any
) -> tuple[sessionmaker[Session], QueryCache]:
    factory = sessionmaker(engine)
    query_cache = QueryCache(cache, **options)
    query_cache.listen(factory)
    return factory, query_cache


def _people(*tags: str, **options: Any) -> Any:
    return select(Person).order_by(Person.id).options(FromCache(*tags, **options))


def test_hit_merges_objects_into_the_session_without_sql(engine: Engine, cache: Cache) -> None:
    factory, _ = _maker(engine, cache)
    sql = Statements(engine)
    with factory() as session:
        assert [p.name for p in session.scalars(_people("people"))] == ["ada", "grace"]
    assert sql.count == 1
    with factory() as session:
        people = session.scalars(_people("people")).all()
        assert [p.name for p in people] == ["ada", "grace"]
        assert all(p in session for p in people)
        assert session.get(Person, 1) in people  # the identity map holds them
        assert sql.count == 1
        assert [pet.name for pet in people[0].pets] == ["rex"]  # lazy load: the database
        assert sql.count == 2


def test_same_session_gets_its_identity(engine: Engine, cache: Cache) -> None:
    factory, _ = _maker(engine, cache)
    with factory() as session:
        first = session.scalars(_people()).all()
        again = session.scalars(_people()).all()
        assert first == again
        assert first[0] is again[0]


def test_changes_to_loaded_objects_do_not_reach_the_cache(engine: Engine, cache: Cache) -> None:
    factory, _ = _maker(engine, cache)
    with factory() as session:
        people = session.scalars(_people()).all()
        people[0].name = "changed, never committed"
        with factory() as other:
            assert [p.name for p in other.scalars(_people())] == ["ada", "grace"]


def test_key_includes_parameters(engine: Engine, cache: Cache) -> None:
    factory, _ = _maker(engine, cache)
    sql = Statements(engine)
    by_name = select(Person).where(Person.name == "ada").options(FromCache())
    other = select(Person).where(Person.name == "grace").options(FromCache())
    with factory() as session:
        assert session.scalars(by_name).one().id == 1
        assert session.scalars(other).one().id == 2
        assert session.scalars(by_name).one().id == 1
        assert sql.count == 2
        stmt = select(Person).where(Person.id == 1).options(FromCache(key="by-id"))
        assert session.scalars(stmt).one().name == "ada"
        other_key = select(Person).where(Person.id == 1).options(FromCache(key="other"))
        assert session.scalars(other_key).one().name == "ada"
        assert sql.count == 4


def test_execute_parameters_are_part_of_the_key(engine: Engine, cache: Cache) -> None:
    from sqlalchemy import bindparam

    factory, _ = _maker(engine, cache)
    stmt = select(Person).where(Person.id == bindparam("wanted")).options(FromCache())
    with factory() as session:
        assert session.scalars(stmt, {"wanted": 1}).one().name == "ada"
        assert session.scalars(stmt, {"wanted": 2}).one().name == "grace"


def test_columns_and_uncached_statements(engine: Engine, cache: Cache) -> None:
    factory, _ = _maker(engine, cache)
    sql = Statements(engine)
    names = select(Person.name).order_by(Person.name).options(FromCache("names"))
    with factory() as session:
        assert session.scalars(names).all() == ["ada", "grace"]
        assert session.scalars(names).all() == ["ada", "grace"]
        assert sql.count == 1
        session.scalars(select(Person)).all()
        session.scalars(select(Person)).all()
        assert sql.count == 3


def test_invalidate_by_tag(engine: Engine, cache: Cache) -> None:
    factory, query_cache = _maker(engine, cache)
    with factory() as session:
        assert len(session.scalars(_people("people")).all()) == 2
    with engine.begin() as connection:  # behind the cache's back
        connection.execute(insert(Person).values(id=3, name="linus"))
    with factory() as session:
        assert len(session.scalars(_people("people")).all()) == 2
    query_cache.invalidate("people")
    with factory() as session:
        assert len(session.scalars(_people("people")).all()) == 3


def test_no_automatic_invalidation_unless_asked(engine: Engine, cache: Cache) -> None:
    factory, _ = _maker(engine, cache)
    with factory() as session:
        session.scalars(_people()).all()
    with factory() as session:
        session.add(Person(id=3, name="linus"))
        session.commit()
    with factory() as session:
        assert len(session.scalars(_people()).all()) == 2  # stale, as configured


@pytest.mark.parametrize("change", ["insert", "update", "delete", "bulk-update", "bulk-delete"])
def test_auto_invalidation_after_flush(engine: Engine, cache: Cache, change: str) -> None:
    factory, _ = _maker(engine, cache, auto_invalidate=True)
    with factory() as session:
        session.scalars(_people()).all()
    with factory() as session:
        if change == "insert":
            session.add(Person(id=3, name="linus"))
        elif change == "update":
            person = session.get(Person, 2)
            assert person is not None
            person.name = "hopper"
        elif change == "delete":
            person = session.get(Person, 2)
            assert person is not None
            session.delete(person)
        elif change == "bulk-update":
            session.execute(update(Person).where(Person.id == 2).values(name="hopper"))
        else:
            session.execute(delete(Person).where(Person.id == 2))
        session.commit()
    expected = {
        "insert": ["ada", "grace", "linus"],
        "update": ["ada", "hopper"],
        "delete": ["ada"],
        "bulk-update": ["ada", "hopper"],
        "bulk-delete": ["ada"],
    }[change]
    with factory() as session:
        assert [p.name for p in session.scalars(_people())] == expected


def test_auto_invalidation_keeps_other_classes_and_uncommitted_rows(
    engine: Engine, cache: Cache
) -> None:
    factory, query_cache = _maker(engine, cache, auto_invalidate=True)
    sql = Statements(engine)
    pets = select(Pet).options(FromCache())
    with factory() as session:
        session.scalars(pets).all()
        session.scalars(_people()).all()
    assert sql.count == 2
    with factory() as session:
        session.add(Person(id=3, name="linus"))
        session.flush()
        # flushed, uncommitted: this session goes to the database and stores nothing
        assert len(session.scalars(_people()).all()) == 3
        session.rollback()
        assert len(session.scalars(_people()).all()) == 2
        assert len(session.scalars(pets).all()) == 1
    with factory() as session:
        assert len(session.scalars(_people()).all()) == 2
    assert class_tag(Person).endswith(".Person")
    query_cache.invalidate_class(Pet)


def test_listen_targets(engine: Engine, cache: Cache) -> None:
    query_cache = QueryCache(cache)
    with pytest.raises(ConfigurationError, match="sessionmaker"):
        query_cache.listen(object())
    session = Session(engine)
    query_cache.listen(session)
    sql = Statements(engine)
    session.scalars(_people()).all()
    session.scalars(_people()).all()
    assert sql.count == 1
    session.close()

    class MySession(Session):
        pass

    QueryCache(cache).listen(MySession)
    with MySession(engine) as mine:
        assert len(mine.scalars(_people()).all()) == 2
    assert sql.count == 1
    assert "QueryCache" in repr(query_cache)
    assert "people" in repr(FromCache("people"))
    from_env = QueryCache(namespace="sa-env")
    from_env.cache.close()


@pytest.fixture
async def async_engine(setup: tuple[str, str], engine: Engine) -> AsyncIterator[Any]:
    url = setup[0].replace("sqlite://", "sqlite+aiosqlite://", 1)
    made = create_async_engine(url)
    yield made
    await made.dispose()


async def test_async_session(async_engine: Any, cache: Cache) -> None:
    class AsyncSync(Session):
        pass

    factory = async_sessionmaker(async_engine, sync_session_class=AsyncSync)
    query_cache = QueryCache(cache, auto_invalidate=True)
    query_cache.listen(AsyncSync)
    sql = Statements(async_engine.sync_engine)
    stmt = _people().options(selectinload(Person.pets))
    async with factory() as session:
        people = (await session.scalars(stmt)).all()
        assert [p.name for p in people] == ["ada", "grace"]
    count = sql.count
    async with factory() as session:
        people = (await session.scalars(stmt)).all()
        assert [pet.name for pet in people[0].pets] == ["rex"]  # eager-loaded, from the cache
        assert sql.count == count
        session.add(Person(id=3, name="linus"))
        await session.commit()
    async with factory() as session:
        assert len((await session.scalars(stmt)).all()) == 3
    async with AsyncSession(async_engine) as single:
        QueryCache(cache).listen(single)
        assert len((await single.scalars(_people("x"))).all()) == 3


def test_readme_example_runs() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    source = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    module = types.ModuleType("twat_sqlalchemy_readme")
    sys.modules[module.__name__] = module  # the example's classes are picklable by name
    try:
        exec(compile(source, "README.md", "exec"), module.__dict__)
        module.query_cache.cache.clear()
        module.query_cache.cache.close()
        module.engine.dispose()
    finally:
        del sys.modules[module.__name__]
