//! A real PostgreSQL (the machine's binaries via TempPostgres): the seed's table,
//! binary COPY batches, and a server outage with restart.

use creek_pg::{
    connect, encode_copy, ensure_table, insert_batch, CopyWriter, Customer, CustomerGenerator,
    Locale, TempPostgres, CUSTOMER_COLUMNS,
};

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_table_batches_and_restart() {
    let pg = TempPostgres::start().await.expect("start TempPostgres");
    assert!(pg.is_running());
    assert_eq!(
        pg.connection_string(),
        format!("postgresql://postgres@127.0.0.1:{}/postgres", pg.port())
    );
    assert_eq!(
        pg.jdbc_url(),
        format!("jdbc:postgresql://127.0.0.1:{}/postgres", pg.port())
    );
    let client = pg.connect().await.unwrap();
    let wal_level: String = client
        .query_one("SHOW wal_level", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(wal_level, "logical");

    // The seed's table, exactly: names, order, types, all nullable, no constraints.
    ensure_table(&client, "customers").await.unwrap();
    ensure_table(&client, "customers").await.unwrap(); // idempotent
    let columns = client
        .query(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = 'customers' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, String)> = columns
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want: Vec<(String, String, String)> = CUSTOMER_COLUMNS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string(), "YES".to_string()))
        .collect();
    assert_eq!(got, want);
    let constraints: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.table_constraints \
             WHERE table_name = 'customers' AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(constraints, 0);
    let indexes: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE tablename = 'customers'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexes, 0);

    // Batches round-trip field for field (newlines, accents, dates, microseconds).
    let mut en = CustomerGenerator::with_seed(Locale::En, 7);
    let mut br = CustomerGenerator::with_seed(Locale::PtBr, 7);
    let first = en.batch(1000);
    assert_eq!(
        insert_batch(&client, "customers", &first).await.unwrap(),
        1000
    );
    let second = br.batch(500);
    insert_batch(&client, "customers", &second).await.unwrap();
    assert_eq!(insert_batch(&client, "customers", &[]).await.unwrap(), 0);
    assert_eq!(count(&client, "customers").await, 1500);
    // A prepared writer for a stream of batches.
    ensure_table(&client, "stream").await.unwrap();
    let writer = CopyWriter::prepare(&client, "stream").await.unwrap();
    for _ in 0..5 {
        let rows = en.batch(200);
        assert_eq!(
            writer.write(&client, encode_copy(&rows)).await.unwrap(),
            200
        );
    }
    assert_eq!(count(&client, "stream").await, 1000);
    let rows = client
        .query(
            "SELECT nome, sexo, endereco, telefone, email, foto, nascimento, profissao, dt_update \
             FROM customers",
            &[],
        )
        .await
        .unwrap();
    // Same rows, field for field (SQL gives no order: compare sorted).
    let mut from_db: Vec<Customer> = rows
        .iter()
        .map(|r| Customer {
            nome: r.get(0),
            sexo: if r.get::<_, String>(1) == "M" {
                "M"
            } else {
                "F"
            },
            endereco: r.get(2),
            telefone: r.get(3),
            email: r.get(4),
            foto: r.get(5),
            nascimento: r.get(6),
            profissao: r.get(7),
            dt_update: r.get(8),
        })
        .collect();
    let mut generated: Vec<Customer> = first.iter().chain(second.iter()).cloned().collect();
    let key = |c: &Customer| (c.dt_update, c.nome.clone(), c.email.clone(), c.foto.clone());
    from_db.sort_by_key(key);
    generated.sort_by_key(key);
    assert_eq!(from_db, generated);
    assert!(generated.iter().any(|c| c.endereco.contains('\n')));
    assert!(generated.iter().any(|c| !c.nome.is_ascii()));

    // A schema-qualified, mixed-case name is quoted, not folded.
    client.batch_execute("CREATE SCHEMA crm").await.unwrap();
    ensure_table(&client, "crm.Clientes").await.unwrap();
    insert_batch(&client, "crm.Clientes", &br.batch(3))
        .await
        .unwrap();
    assert_eq!(count(&client, r#"crm."Clientes""#).await, 3);

    // Appending to an existing table with other columns fails with a clear error.
    client
        .batch_execute("CREATE TABLE other (id int)")
        .await
        .unwrap();
    ensure_table(&client, "other").await.unwrap();
    let err = insert_batch(&client, "other", &en.batch(1))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("other"), "{err:#}");

    // Outage: the server goes away, clients fail, it comes back on the same port with
    // the same data.
    let port = pg.port();
    pg.stop_server().await.unwrap();
    assert!(!pg.is_running());
    assert!(insert_batch(&client, "customers", &en.batch(1))
        .await
        .is_err());
    assert!(connect(&pg.connection_string()).await.is_err());
    pg.start_server().await.unwrap();
    assert_eq!(pg.port(), port);
    let client = pg.connect().await.unwrap();
    assert_eq!(count(&client, "customers").await, 1500);
    insert_batch(&client, "customers", &en.batch(10))
        .await
        .unwrap();
    assert_eq!(count(&client, "customers").await, 1510);

    // A crash (immediate shutdown) loses nothing committed either.
    pg.kill_server().await.unwrap();
    pg.start_server().await.unwrap();
    let client = pg.connect().await.unwrap();
    assert_eq!(count(&client, "customers").await, 1510);

    let data_dir = pg.data_dir();
    assert!(data_dir.is_dir());
    pg.stop().await;
    assert!(!data_dir.exists(), "data dir removed");
}

#[tokio::test]
async fn drop_stops_and_removes() {
    let pg = TempPostgres::start().await.unwrap();
    let dir = pg.data_dir();
    let conn = pg.connection_string();
    drop(pg);
    assert!(!dir.exists());
    assert!(connect(&conn).await.is_err());
}
