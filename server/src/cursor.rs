//! SQL cursors (`DECLARE … CURSOR FOR`, `FETCH`, `CLOSE`), the way psycopg's
//! named cursors, pandas' `chunksize` and R's `dbFetch` page through a
//! result too big for the client's memory. A cursor is a query's row
//! stream, started on the first `FETCH` and read on by each next one, so
//! the server never holds more than the stream's own small buffer: the
//! query runs under the same role session, time limit and memory share as
//! any other, and the client's pace is the back-pressure.
//!
//! Only what paging needs: forward fetches in text. `SCROLL`, backward or
//! absolute fetches and `BINARY` cursors are refused by name. A cursor ends
//! with `CLOSE`, `DISCARD ALL`, the end of the connection, or (unless
//! declared `WITH HOLD`) the end of its transaction; at most
//! [`MAX_CURSORS`] are open at once, leaving one of the connection's job
//! slots for its other queries.

use crate::exec::{JOBS_PER_CONNECTION, Rows};
use crate::limits::user_error;
use datafusion_postgres::pgwire::api::results::FieldInfo;
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::data::DataRow;
use futures::{Stream, StreamExt};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use vru_queries::datafusion::common::DFSchemaRef;

pub mod statement;
pub use statement::{Op, op};

/// Cursors one connection may hold open.
pub const MAX_CURSORS: usize = JOBS_PER_CONNECTION - 1;

/// An open cursor: its columns, and the rows not yet fetched.
pub struct Cursor {
    pub fields: Arc<Vec<FieldInfo>>,
    /// For describing a `FETCH` before it runs.
    pub schema: DFSchemaRef,
    hold: bool,
    rows: Arc<tokio::sync::Mutex<Rows>>,
}

impl Cursor {
    pub fn new(fields: Arc<Vec<FieldInfo>>, schema: DFSchemaRef, hold: bool, rows: Rows) -> Cursor {
        Cursor { fields, schema, hold, rows: Arc::new(tokio::sync::Mutex::new(rows)) }
    }

    /// The next `count` rows (or all that are left), streamed from the
    /// query as they are sent. The cursor is held for the whole fetch, so
    /// two fetches never interleave.
    pub fn fetch(&self, count: Option<usize>) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
        let rows = self.rows.clone();
        futures::stream::once(async move { rows.lock_owned().await })
            .flat_map(move |mut guard| futures::stream::poll_fn(move |cx| guard.poll_next_unpin(cx)))
            .take(count.unwrap_or(usize::MAX))
    }
}

/// One connection's open cursors, by name.
#[derive(Default)]
pub struct Cursors(Mutex<HashMap<String, Arc<Cursor>>>);

impl Cursors {
    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Cursor>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a `DECLARE` of `name` may go ahead, checked before it plans.
    pub fn check_room(&self, name: &str) -> PgWireResult<()> {
        let held = self.held();
        if held.contains_key(name) {
            return Err(user_error("42P03", format!("cursor \"{name}\" already exists: CLOSE it first")));
        }
        if held.len() >= MAX_CURSORS {
            return Err(user_error("53400", format!("too many open cursors on this connection ({MAX_CURSORS}): CLOSE one first")));
        }
        Ok(())
    }

    pub fn declare(&self, name: String, cursor: Cursor) -> PgWireResult<()> {
        self.check_room(&name)?;
        self.held().insert(name, Arc::new(cursor));
        Ok(())
    }

    pub fn get(&self, name: &str) -> PgWireResult<Arc<Cursor>> {
        self.held().get(name).cloned().ok_or_else(|| missing(name))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.held().contains_key(name)
    }

    /// `CLOSE name` (an unknown name is an error, as in PostgreSQL) or
    /// `CLOSE ALL`. Dropping a cursor's rows cancels its query.
    pub fn close(&self, name: Option<&str>) -> PgWireResult<()> {
        let mut held = self.held();
        match name {
            None => held.clear(),
            Some(n) => {
                held.remove(n).ok_or_else(|| missing(n))?;
            }
        }
        Ok(())
    }

    /// The transaction ended: cursors not declared `WITH HOLD` go.
    pub fn end_transaction(&self) {
        self.held().retain(|_, c| c.hold);
    }
}

fn missing(name: &str) -> PgWireError {
    user_error("34000", format!("cursor \"{name}\" does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fetches_read_on_where_the_last_stopped() {
        let rows: Rows = Box::pin(futures::stream::iter((0..10).map(|_| Ok(DataRow::new(Default::default(), 0)))));
        let schema = Arc::new(vru_queries::datafusion::common::DFSchema::empty());
        let c = Cursor::new(Arc::new(vec![]), schema, false, rows);
        assert_eq!(c.fetch(Some(4)).count().await, 4);
        assert_eq!(c.fetch(Some(4)).count().await, 4);
        assert_eq!(c.fetch(None).count().await, 2);
        assert_eq!(c.fetch(Some(4)).count().await, 0);
    }

    #[test]
    fn cursors_are_limited_and_end_with_their_transaction() {
        let cursors = Cursors::default();
        let empty = || {
            let rows: Rows = Box::pin(futures::stream::empty());
            (Arc::new(vec![]), Arc::new(vru_queries::datafusion::common::DFSchema::empty()), rows)
        };
        for i in 0..MAX_CURSORS {
            let (f, s, r) = empty();
            cursors.declare(format!("c{i}"), Cursor::new(f, s, i == 0, r)).unwrap();
        }
        assert!(cursors.check_room("c0").is_err(), "a name in use");
        assert!(cursors.check_room("another").is_err(), "over the limit");
        cursors.end_transaction();
        assert!(cursors.contains("c0") && !cursors.contains("c1"), "only WITH HOLD survives COMMIT");
        assert!(cursors.close(Some("c1")).is_err());
        cursors.close(None).unwrap();
        assert!(!cursors.contains("c0"));
    }
}
