//! The demo `products` table `aio sql` creates in a database that has no
//! table yet: the seed queried a PostgreSQL `products` database; this is a
//! small stand-in with the same spirit, generated the same way every time
//! and the same in SQLite and PostgreSQL, so results can be compared
//! between runs and between the backends.

use rusqlite::{Connection, TransactionBehavior};

/// Rows in the demo `products` table.
pub(super) const ROWS: u32 = 4000;

/// Turns on WAL (readers go on while a connection writes) and, in a
/// database without any table, creates and fills the demo `products`
/// table. True when it did.
pub(super) fn create_in_sqlite(connection: &mut Connection) -> rusqlite::Result<bool> {
    // Answers with the mode it got; a read-only file keeps its own.
    let _ = connection.query_row("PRAGMA journal_mode = WAL", [], |row| {
        row.get::<_, String>(0)
    });
    if !is_empty(connection)? {
        return Ok(false);
    }
    // Write-locked, then looked at again: another process may be here too.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !is_empty(&transaction)? {
        return Ok(false);
    }
    transaction.execute_batch(
        "CREATE TABLE products (
             product_id   INTEGER PRIMARY KEY,
             product_name TEXT NOT NULL,
             brand        TEXT NOT NULL,
             color        TEXT NOT NULL,
             size         TEXT NOT NULL,
             price_cents  INTEGER NOT NULL
         );
         CREATE INDEX products_brand ON products (brand);",
    )?;
    {
        let mut insert = transaction.prepare(
            "INSERT INTO products (product_id, product_name, brand, color, size, price_cents)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for p in products() {
            insert.execute((p.id, p.name, p.brand, p.color, p.size, p.price_cents))?;
        }
    }
    transaction.commit()?;
    Ok(true)
}

/// True when the SQLite database has no table, index or view yet.
fn is_empty(connection: &Connection) -> rusqlite::Result<bool> {
    connection
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| {
            row.get::<_, i64>(0)
        })
        .map(|objects| objects == 0)
}

/// Key of the advisory lock that `aio sql` sessions starting together on
/// one empty PostgreSQL database take, so only one creates the table: any
/// constant of our own.
const PG_LOCK_KEY: i64 = 0x0a10_5091;

/// In a PostgreSQL database without any table, view or other relation of
/// its own, creates and fills the demo `products` table in one
/// transaction. True when it did.
///
/// # Errors
///
/// PostgreSQL's, e.g. when the user may not create tables.
pub(super) async fn create_in_postgres(
    client: &mut tokio_postgres::Client,
) -> Result<bool, tokio_postgres::Error> {
    if !pg_is_empty(&*client).await? {
        return Ok(false);
    }
    let transaction = client.transaction().await?;
    // Locked, then looked at again: another session may be here too.
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&PG_LOCK_KEY])
        .await?;
    if !pg_is_empty(&transaction).await? {
        return Ok(false);
    }
    transaction
        .batch_execute(
            "CREATE TABLE products (
                 product_id   integer PRIMARY KEY,
                 product_name text NOT NULL,
                 brand        text NOT NULL,
                 color        text NOT NULL,
                 size         text NOT NULL,
                 price_cents  integer NOT NULL
             );
             CREATE INDEX products_brand ON products (brand);",
        )
        .await?;
    // One statement for every row: a column of values per parameter, with
    // no SQL text made from the data.
    let rows: Vec<Product> = products().collect();
    let ids: Vec<i64> = rows.iter().map(|p| i64::from(p.id)).collect();
    let names: Vec<&str> = rows.iter().map(|p| p.name.as_str()).collect();
    let brands: Vec<&str> = rows.iter().map(|p| p.brand).collect();
    let colors: Vec<&str> = rows.iter().map(|p| p.color).collect();
    let sizes: Vec<&str> = rows.iter().map(|p| p.size).collect();
    let prices: Vec<i64> = rows.iter().map(|p| p.price_cents).collect();
    transaction
        .execute(
            "INSERT INTO products (product_id, product_name, brand, color, size, price_cents)
             SELECT * FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[],
                                  $6::int8[])",
            &[&ids, &names, &brands, &colors, &sizes, &prices],
        )
        .await?;
    transaction.commit().await?;
    Ok(true)
}

/// True when the PostgreSQL database has no relation outside the system
/// schemas (`pg_catalog`, `information_schema`, `pg_toast`, others'
/// temporary tables).
async fn pg_is_empty(
    client: &impl tokio_postgres::GenericClient,
) -> Result<bool, tokio_postgres::Error> {
    let row = client
        .query_one(
            r"SELECT NOT EXISTS (
                  SELECT FROM pg_catalog.pg_class c
                  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname <> 'information_schema'
                    AND n.nspname NOT LIKE 'pg\_%'
                    AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S'))",
            &[],
        )
        .await?;
    row.try_get(0)
}

/// A row of the demo table.
struct Product {
    /// `product_id`, 1 up.
    id: u32,
    /// `product_name`: brand, style and kind, e.g. "Acme Warm jacket".
    name: String,
    /// `brand`, indexed, for queries that pick a few rows.
    brand: &'static str,
    /// `color`.
    color: &'static str,
    /// `size`, XS to XL.
    size: &'static str,
    /// `price_cents`, 4.99 to 203.99.
    price_cents: i64,
}

/// [`ROWS`] products from a fixed-seed generator (an LCG), so every new
/// database holds the same ones.
fn products() -> impl Iterator<Item = Product> {
    const BRANDS: [&str; 8] = [
        "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell",
    ];
    const STYLES: [&str; 8] = [
        "Classic", "Light", "Warm", "Slim", "Rugged", "Soft", "Sport", "Travel",
    ];
    const KINDS: [&str; 10] = [
        "shirt", "jacket", "hat", "scarf", "boots", "gloves", "socks", "jeans", "hoodie", "belt",
    ];
    const COLORS: [&str; 6] = ["black", "white", "red", "blue", "green", "grey"];
    const SIZES: [&str; 5] = ["XS", "S", "M", "L", "XL"];
    let mut state: u64 = 0x5eed;
    let mut next = move |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // The high bits are the random ones; n is small, so this fits.
        (state >> 33) as usize % n
    };
    (1..=ROWS).map(move |id| {
        let brand = BRANDS[next(BRANDS.len())];
        let name = format!(
            "{brand} {} {}",
            STYLES[next(STYLES.len())],
            KINDS[next(KINDS.len())]
        );
        Product {
            id,
            name,
            brand,
            color: COLORS[next(COLORS.len())],
            size: SIZES[next(SIZES.len())],
            price_cents: 499 + 100 * next(200) as i64,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_database_gets_the_demo_table_once() {
        let mut connection = Connection::open_in_memory().unwrap();
        assert!(create_in_sqlite(&mut connection).unwrap());
        assert!(!create_in_sqlite(&mut connection).unwrap());
        let rows: u32 = connection
            .query_row("SELECT count(*) FROM products", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, ROWS);
    }
}
