"""`creek fake` (the seed's make_fake_data.py) against a throwaway PostgreSQL."""

from __future__ import annotations

import re
import time

from creekutil import free_port, require_creek_bin, run

SEED_COLUMNS = [
    ("nome", "text"),
    ("sexo", "text"),
    ("endereco", "text"),
    ("telefone", "text"),
    ("email", "text"),
    ("foto", "text"),
    ("nascimento", "date"),
    ("profissao", "text"),
    ("dt_update", "timestamp without time zone"),
]


def creek_fake(*args, check=True, timeout=60.0):
    return run([require_creek_bin(), "fake", *args], check=check, timeout=timeout,
               what="creek fake")


def columns(conn, table="customers", schema="public"):
    return conn.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, table)).fetchall()


def test_silent_batches_create_the_seed_table(postgres):
    cp = creek_fake("-cs", postgres.connection_string, "-n", "100", "--interval", "0",
                    "--total", "1000", "--silent")
    assert cp.stdout == "", cp.stdout
    with postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 1000
        assert columns(conn) == [(name, ty, "YES") for name, ty in SEED_COLUMNS]
        constraints = conn.execute(
            "SELECT count(*) FROM information_schema.table_constraints "
            "WHERE table_name = 'customers' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')"
        ).fetchone()[0]
        assert constraints == 0
        assert conn.execute("SELECT count(*) FROM pg_indexes WHERE tablename = 'customers'"
                            ).fetchone()[0] == 0
        rows = conn.execute("SELECT sexo, endereco, email, nascimento, dt_update "
                            "FROM customers").fetchall()
    assert {r[0] for r in rows} == {"M", "F"}
    assert all("\n" in r[1] for r in rows)
    assert all(re.fullmatch(r"[a-z0-9.]+@example\.(org|com|net)", r[2]) for r in rows), rows[:3]
    assert all(r[4].microsecond or r[4].second for r in rows[:5])

    # A second run appends to the existing table.
    creek_fake("--connection-string", postgres.connection_string, "-n", "250",
               "--interval", "0", "--total", "500", "--silent", "yes")
    with postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 1500


def test_prints_arguments_and_batches(postgres):
    # trust auth ignores the password: it must still never be printed.
    cs = postgres.connection_string.replace("postgres@", "postgres:s3cr3t@")
    cp = creek_fake("-cs", cs, "-n", "3", "--interval", "0.1", "--total", "6")
    out = cp.stdout
    assert "s3cr3t" not in out + cp.stderr
    lines = out.splitlines()
    masked = cs.replace("s3cr3t", "***")
    assert lines[0] == (f"Namespace(interval=0.1, n=3, connection_string='{masked}', "
                        f"silent=False, total=6, table='customers', locale='en_US')"), lines[0]
    headers = [line for line in lines if line.split()[:2] == ["nome", "sexo"]]
    assert len(headers) == 2, out
    assert headers[0].split() == [name for name, _ in SEED_COLUMNS]
    # Each batch as a table indexed 0..2, multi-line addresses kept on one line.
    indexed = [line for line in lines if re.match(r"^[0-2]  ", line)]
    assert len(indexed) == 6, out
    assert all("\\n" in line for line in indexed), out
    with postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 6
        # dt_update is when each row was made: the second batch came --interval later.
        stamps = [r[0] for r in conn.execute("SELECT dt_update FROM customers "
                                             "ORDER BY dt_update").fetchall()]
    assert (stamps[3] - stamps[2]).total_seconds() >= 0.1, stamps


def test_silent_values_and_no_value(postgres):
    for value in (["--silent"], ["--silent", "true"], ["--silent=1"]):
        cp = creek_fake("-cs", postgres.connection_string, "--interval", "0", "--total", "2",
                        *value)
        assert cp.stdout == "", (value, cp.stdout)
    for value in (["--silent", "no"], ["--silent", "false"], ["--silent=0"]):
        cp = creek_fake("-cs", postgres.connection_string, "--interval", "0", "--total", "2",
                        *value)
        assert cp.stdout.startswith("Namespace("), (value, cp.stdout)
    cp = creek_fake("-cs", postgres.connection_string, "--total", "1", "--silent", "maybe",
                    check=False)
    assert cp.returncode != 0 and "maybe" in cp.stderr


def test_pt_br_locale_and_schema_qualified_table(postgres):
    with postgres.connect(autocommit=True) as conn:
        conn.execute("CREATE SCHEMA loja")
    creek_fake("-cs", postgres.connection_string, "-n", "200", "--interval", "0",
               "--total", "400", "--silent", "--locale", "pt_BR", "--table", "loja.Clientes")
    with postgres.connect() as conn:
        assert columns(conn, "Clientes", "loja") == [(n, t, "YES") for n, t in SEED_COLUMNS]
        rows = conn.execute('SELECT nome, endereco, telefone, email, profissao '
                            'FROM loja."Clientes"').fetchall()
    assert len(rows) == 400
    for nome, endereco, telefone, email, _ in rows:
        # "Rua Souza, 123\nBairro\n12345-678 Cidade / UF"
        parts = endereco.split("\n")
        assert len(parts) == 3, endereco
        assert re.fullmatch(r"\d{5}-\d{3} .+ / [A-Z]{2}", parts[2]), endereco
        assert re.match(r"(\+55 |\(0\d\d\) |0\d\d |0[3589]00)", telefone), telefone
        assert email.isascii()
    text = " ".join(" ".join(r) for r in rows)
    assert any(street in text for street in ("Rua ", "Avenida ", "Travessa ")), text[:500]
    assert re.search(r"[ãçéíóúâê]", text), "no Portuguese accents at all"
    assert any(job in text for job in ("Engenheiro", "Médico", "Professor", "Advogado",
                                       "Analista", "Técnico"))


def test_bad_connection_exits_1_naming_host_and_port():
    port = free_port()  # nothing listens there
    cp = creek_fake("-cs", f"postgresql://postgres:hunter2@127.0.0.1:{port}/postgres",
                    "--total", "1", "--silent", check=False, timeout=30)
    assert cp.returncode == 1, (cp.returncode, cp.stderr)
    assert f"127.0.0.1:{port}" in cp.stderr, cp.stderr
    assert "could not connect" in cp.stderr, cp.stderr
    assert "hunter2" not in cp.stdout + cp.stderr
    assert "panicked" not in cp.stderr

    cp = creek_fake("-cs", "postgresql://u:hunter2@h:notaport/db", "--silent", check=False)
    assert cp.returncode == 1 and "hunter2" not in cp.stderr and cp.stderr.strip(), cp.stderr

    cp = creek_fake("-cs", "postgresql://h/db", "--table", "a.b.c", check=False)
    assert cp.returncode == 1 and "a.b.c" in cp.stderr, cp.stderr


def test_total_is_exact_and_fast(postgres):
    start = time.monotonic()
    creek_fake("-cs", postgres.connection_string, "-n", "7000", "--interval", "0",
               "--total", "50000", "--silent")
    elapsed = time.monotonic() - start
    with postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 50000
    # The seed does ~3,900 rows/s; even a debug build must be far beyond that.
    assert elapsed < 50000 / 3900, elapsed
