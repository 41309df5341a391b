//! Running the cursor statements [`crate::cursor`] reads: `DECLARE` plans
//! its query in the connection's role session (the allow-list and table
//! checks have already passed on the whole statement) and keeps the row
//! stream, started lazily; `FETCH` streams the next rows; `CLOSE` drops
//! the stream, which cancels the query.

use super::{Prepared, empty_plan};
use crate::cursor::{self, Cursor, Op};
use crate::handler::{Link, internal};
use crate::limits::user_error;
use datafusion_postgres::pgwire::api::ClientInfo;
use datafusion_postgres::pgwire::api::portal::Format;
use datafusion_postgres::pgwire::api::results::{FieldFormat, QueryResponse, Response, Tag};
use datafusion_postgres::pgwire::error::PgWireResult;
use std::sync::Arc;
use vru_queries::datafusion::logical_expr::{EmptyRelation, LogicalPlan};
use vru_queries::datafusion::prelude::SessionContext;
use vru_queries::datafusion::sql::sqlparser::ast::Statement;

/// `DECLARE` and `CLOSE` answer with a tag, never rows: their describe is
/// NoData even though a `DECLARE`'s plan (kept for its parameter types)
/// has the query's columns.
pub(super) fn returns_no_rows(p: &Prepared) -> bool {
    p.action == crate::policy::Action::Cursor && matches!(p.df.1, Some((Statement::Declare { .. } | Statement::Close { .. }, _)))
}

/// Rows were asked for in binary: the cursor's rows are encoded as text
/// when it is declared, so this would hand the client bytes it misreads.
pub(super) fn text_only(format: &Format) -> PgWireResult<()> {
    // Read the codes themselves: `Format::format_for` indexes a client's
    // per-column list without a bound check.
    let binary = match format {
        Format::UnifiedText => false,
        Format::UnifiedBinary => true,
        Format::Individual(codes) => codes.iter().any(|c| FieldFormat::from(*c) == FieldFormat::Binary),
    };
    if binary {
        return Err(user_error("0A000", "binary FETCH: cursors here send text; fetch without binary format".into()));
    }
    Ok(())
}

fn op(stmt: &Statement) -> PgWireResult<Op<'_>> {
    match cursor::op(stmt) {
        Some(Ok(op)) => Ok(op),
        _ => Err(internal("a cursor statement that the policy did not check")),
    }
}

impl Link {
    /// The plan a cursor statement is prepared with (extended protocol):
    /// a `DECLARE`'s query, for its parameters; a `FETCH`'s columns, for
    /// its describe; nothing for a `CLOSE`.
    pub(super) async fn cursor_plan(&self, ctx: &SessionContext, stmt: &Statement) -> PgWireResult<LogicalPlan> {
        match op(stmt)? {
            Op::Declare { name, query, .. } => {
                self.conn.cursors.check_room(&name)?;
                self.shared.engine.plan(ctx.state(), Statement::Query(Box::new(query.clone()))).await
            }
            Op::Fetch { name, .. } => {
                let c = self.conn.cursors.get(&name)?;
                Ok(LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: false, schema: c.schema.clone() }))
            }
            Op::Close { .. } => Ok(empty_plan()),
        }
    }

    /// Runs a cursor statement. `declared` is a `DECLARE`'s query already
    /// planned with its parameters (extended protocol); the simple
    /// protocol plans it here. The query's time limit runs from `DECLARE`.
    pub(super) async fn cursor<C: ClientInfo>(
        &self,
        client: &C,
        ctx: &SessionContext,
        stmt: &Statement,
        declared: Option<LogicalPlan>,
        deadline: tokio::time::Instant,
    ) -> PgWireResult<Response> {
        match op(stmt)? {
            Op::Declare { name, query, hold } => {
                self.conn.cursors.check_room(&name)?;
                let plan = match declared {
                    Some(p) => p,
                    None => self.shared.engine.plan(ctx.state(), Statement::Query(Box::new(query.clone()))).await?,
                };
                let fields = self.fields(client, &plan, &Format::UnifiedText)?;
                let schema = plan.schema().clone();
                let rows = self.shared.engine.execute(self.job(ctx, plan, fields.clone(), deadline));
                self.conn.cursors.declare(name, Cursor::new(fields, schema, hold, rows))?;
                Ok(Response::Execution(Tag::new("DECLARE CURSOR")))
            }
            Op::Fetch { name, count } => {
                let c = self.conn.cursors.get(&name)?;
                let mut response = QueryResponse::new(Arc::clone(&c.fields), c.fetch(count));
                response.command_tag = "FETCH".into();
                Ok(self.counted(response))
            }
            Op::Close { name } => {
                self.conn.cursors.close(name.as_deref())?;
                Ok(Response::Execution(Tag::new("CLOSE CURSOR")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::text_only;
    use datafusion_postgres::pgwire::api::portal::Format;

    #[test]
    fn binary_fetches_are_refused_whatever_the_codes_say() {
        assert!(text_only(&Format::UnifiedText).is_ok());
        assert!(text_only(&Format::Individual(vec![0, 0])).is_ok());
        assert!(text_only(&Format::UnifiedBinary).is_err());
        // Fewer codes than columns once made the check index past the list.
        assert!(text_only(&Format::Individual(vec![0, 1])).is_err());
        assert!(text_only(&Format::Individual(vec![])).is_ok());
    }
}
