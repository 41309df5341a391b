//! Reading cursor statements (`DECLARE … CURSOR FOR`, `FETCH`, `CLOSE`)
//! from their parsed tree: pure, so the policy can check them without
//! depending on the cursors' running state ([`crate::cursor`]).

use vru_queries::datafusion::sql::sqlparser::ast::{CloseCursor, DeclareType, FetchDirection, Query, Statement, Value, ValueWithSpan};

/// What a cursor statement asks for, read from its tree.
#[derive(Debug)]
pub enum Op<'a> {
    Declare {
        name: String,
        query: &'a Query,
        hold: bool,
    },
    /// `None`: every remaining row (`FETCH ALL`).
    Fetch {
        name: String,
        count: Option<usize>,
    },
    /// `None`: `CLOSE ALL`.
    Close {
        name: Option<String>,
    },
}

/// What a cursor statement asks that is not supported, said in full (the
/// policy refuses it as not supported).
fn not_supported(what: &str) -> String {
    format!("{what}: cursors here read forward only, in text (FETCH n, FETCH ALL)")
}

fn count(limit: &ValueWithSpan) -> Result<usize, String> {
    match &limit.value {
        Value::Number(n, _) => {
            n.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| not_supported("FETCH of a count that is not positive"))
        }
        _ => Err(not_supported("FETCH of a count that is not a number")),
    }
}

/// Reads a cursor statement; `None` if `stmt` is not one.
pub fn op(stmt: &Statement) -> Option<Result<Op<'_>, String>> {
    Some(match stmt {
        Statement::Declare { stmts } => match stmts.as_slice() {
            [d] if d.declare_type == Some(DeclareType::Cursor) && d.names.len() == 1 => match &d.for_query {
                _ if d.binary == Some(true) => Err(not_supported("BINARY cursors")),
                _ if d.scroll == Some(true) => Err(not_supported("SCROLL cursors")),
                Some(q) => Ok(Op::Declare { name: d.names[0].value.clone(), query: q, hold: d.hold == Some(true) }),
                None => Err(not_supported("a cursor without FOR <query>")),
            },
            _ => Err(not_supported("DECLARE of anything but one cursor")),
        },
        Statement::Fetch { name, direction, into, .. } => {
            if into.is_some() {
                return Some(Err(not_supported("FETCH INTO")));
            }
            let count = match direction {
                FetchDirection::Next | FetchDirection::Forward { limit: None } => Ok(Some(1)),
                FetchDirection::Count { limit } | FetchDirection::Forward { limit: Some(limit) } => count(limit).map(Some),
                FetchDirection::All | FetchDirection::ForwardAll => Ok(None),
                other => Err(not_supported(&format!("FETCH {other}"))),
            };
            count.map(|count| Op::Fetch { name: name.value.clone(), count })
        }
        Statement::Close { cursor } => Ok(Op::Close {
            name: match cursor {
                CloseCursor::All => None,
                CloseCursor::Specific { name } => Some(name.value.clone()),
            },
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vru_queries::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use vru_queries::datafusion::sql::sqlparser::parser::Parser;

    fn parsed(sql: &str) -> Statement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0)
    }

    #[test]
    fn psycopg_and_psql_cursor_statements_are_read() {
        let d = parsed(r#"DECLARE "c1" CURSOR FOR SELECT 1"#);
        assert!(matches!(op(&d), Some(Ok(Op::Declare { name, hold: false, .. })) if name == "c1"));
        let h = parsed("DECLARE c CURSOR WITH HOLD FOR SELECT 1");
        assert!(matches!(op(&h), Some(Ok(Op::Declare { hold: true, .. }))));
        for (sql, want) in [
            (r#"FETCH FORWARD 100 FROM "c1""#, Some(100)),
            ("FETCH 5 FROM c", Some(5)),
            ("FETCH NEXT FROM c", Some(1)),
            ("FETCH ALL FROM c", None),
            ("FETCH FORWARD ALL FROM c", None),
        ] {
            match op(&parsed(sql)) {
                Some(Ok(Op::Fetch { count, .. })) => assert_eq!(count, want, "{sql}"),
                other => panic!("{sql}: {other:?}"),
            }
        }
        assert!(matches!(op(&parsed("CLOSE ALL")), Some(Ok(Op::Close { name: None }))));
        assert!(matches!(op(&parsed(r#"CLOSE "c1""#)), Some(Ok(Op::Close { name: Some(n) })) if n == "c1"));
        assert!(op(&parsed("SELECT 1")).is_none());
    }

    #[test]
    fn what_paging_does_not_need_is_refused_by_name() {
        for sql in [
            "DECLARE c SCROLL CURSOR FOR SELECT 1",
            "DECLARE c BINARY CURSOR FOR SELECT 1",
            "FETCH BACKWARD 2 FROM c",
            "FETCH PRIOR FROM c",
            "FETCH ABSOLUTE 3 FROM c",
            "FETCH 0 FROM c",
        ] {
            let Some(Err(r)) = op(&parsed(sql)) else { panic!("{sql} was accepted") };
            assert!(r.contains("forward only"), "{sql}: {r}");
        }
    }
}
