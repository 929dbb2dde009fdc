"""The generated Core tables (store/tables.py) must mirror the SQLModel models exactly."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable


def test_tables_py_is_current():
    from resellctl.store import codegen

    assert codegen.TARGET.read_text(encoding="utf-8") == codegen.render(), (
        "resellctl/store/tables.py is stale: run `python -m resellctl.store.codegen`")


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()],
                         ids=["sqlite", "postgresql"])
def test_mirror_compiles_to_the_same_ddl(dialect):
    from sqlmodel import SQLModel

    import resellctl.store.models  # noqa: F401
    from resellctl.store import tables

    models = SQLModel.metadata.tables
    assert set(models) == set(tables.metadata.tables)
    for name, model in models.items():
        mirror = tables.metadata.tables[name]
        assert str(CreateTable(mirror).compile(dialect=dialect)) == str(
            CreateTable(model).compile(dialect=dialect)), name
        assert sorted(str(CreateIndex(i).compile(dialect=dialect)) for i in mirror.indexes) == \
            sorted(str(CreateIndex(i).compile(dialect=dialect)) for i in model.indexes), name


def test_commands_do_not_import_the_orm_models():
    import subprocess
    import sys

    code = ("import sys, resellctl.domain.clients, resellctl.domain.resellers, "
            "resellctl.domain.importer; "
            "print(','.join(m for m in ('sqlmodel', 'resellctl.store.models', 'sqlalchemy.orm')"
            " if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == ""
