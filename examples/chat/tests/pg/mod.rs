//! A database of its own on the local PostgreSQL (127.0.0.1:5432, trust auth, user `root`
//! or `postgres`), dropped at the end, also when the test fails. PostgreSQL must be
//! running: a test that cannot reach it fails and says so.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub
)]

/// Where PostgreSQL listens, without user and database.
pub const PG: &str = "127.0.0.1:5432";

/// A fresh PostgreSQL database, dropped on drop.
pub struct PgDatabase {
    admin: String,
    /// Its name.
    pub name: String,
}

impl PgDatabase {
    /// Creates a database named for `test` (plus a random part).
    pub async fn create(test: &str) -> PgDatabase {
        let mut errors = Vec::new();
        for user in ["root", "postgres"] {
            let admin = format!("postgres://{user}@{PG}/test");
            match sqlx::PgPool::connect(&admin).await {
                Ok(pool) => {
                    // Unique (a random part), and under PostgreSQL's 63 bytes.
                    let name = format!(
                        "wsx_test_{}_{}",
                        uuid::Uuid::new_v4().simple(),
                        test.chars().take(20).collect::<String>()
                    );
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                        .execute(&pool)
                        .await
                        .unwrap();
                    pool.close().await;
                    return PgDatabase { admin, name };
                }
                Err(e) => errors.push(format!("as {user}: {e}")),
            }
        }
        panic!(
            "PostgreSQL is not reachable on {PG} (database `test`, trust auth): {}. \
             These tests need it: start it (e.g. `service postgresql start`).",
            errors.join("; ")
        );
    }

    /// Its URL.
    pub fn url(&self) -> String {
        let base = self.admin.rsplit_once('/').unwrap().0;
        format!("{base}/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Dropped on a runtime's thread: drop the database from another one.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&pool)
                    .await;
                    pool.close().await;
                }
            });
        })
        .join();
    }
}
