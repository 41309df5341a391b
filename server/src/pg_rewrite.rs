//! Two rewrites of the catalog queries psql's describe commands send, for
//! what DataFusion cannot plan, in the style of datafusion-pg-catalog's own
//! rules (so they can be offered upstream):
//!
//! - `ARRAY(subquery)` (`\du`, `\dg`, `\d+ NAME`): DataFusion has no array
//!   constructor over a subquery. An uncorrelated one becomes
//!   `(SELECT array_agg(v) FROM (subquery) AS _array(v))`; a correlated one
//!   becomes NULL, as the upstream rule does for correlated subqueries in a
//!   projection (DataFusion cannot run a correlated derived table). Here
//!   they list role memberships and table options, which the lake has none of.
//!   The NULL is typed `text[]`, so `reloptions || ARRAY(...)` still plans.
//! - `pg_class.reloptions` and `relacl`, which the catalog layer's
//!   `pg_class` lacks, and `pg_type.typacl` and `pg_event_trigger.evttags`,
//!   which it holds as text where psql expects arrays (`\dT+`, `\dy`),
//!   read as that same NULL: no storage options, default privileges, no
//!   event-trigger tags (the lake has no event triggers).
//! - a correlated scalar subquery without an aggregate (`\dT`'s
//!   `(SELECT c.relkind = 'c' FROM pg_class c WHERE c.oid = t.typrelid)`):
//!   DataFusion only decorrelates scalar subqueries that aggregate, so the
//!   value is wrapped in `max(...)`. PostgreSQL would fail on two rows; a
//!   lookup by oid has at most one, and `max` of one value is the value.
//!
//! Both apply only to statements that read nothing but the catalog
//! (`pg_catalog`, `information_schema`) and table functions: an analyst's
//! own SQL over the lake is never changed in meaning behind their back.

use std::collections::HashSet;
use std::ops::ControlFlow;
use vru_queries::datafusion::sql::sqlparser::ast::{
    Expr, FunctionArguments, ObjectName, Query, SelectItem, SetExpr, Statement, TableFactor, Visit, VisitMut, Visitor, VisitorMut,
};
use vru_queries::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use vru_queries::datafusion::sql::sqlparser::parser::Parser;

/// Applies both rewrites to `stmt`, innermost subqueries first, if it is a
/// query of the catalog alone.
pub fn rewrite(stmt: &mut Statement) {
    if let Statement::Query(q) = stmt
        && reads_only_catalog(q)
    {
        let _ = stmt.visit(&mut Rewriter);
    }
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = ();

    /// `ARRAY(subquery)` first, outermost first: whether it is correlated
    /// is decided on the client's text, before anything inside is rewritten.
    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = e
            && is_array(&f.name)
            && let FunctionArguments::Subquery(q) = &f.args
        {
            let replacement =
                if correlated(q) { Some(no_array()) } else { parse_expr(&format!("(SELECT array_agg(_v) FROM ({q}) AS _array(_v))")) };
            if let Some(r) = replacement {
                *e = r;
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::Subquery(q) if correlated(q) => aggregate_single_value(q),
            Expr::CompoundIdentifier(parts) if parts.last().is_some_and(|p| MISSING_ARRAYS.contains(&p.value.as_str())) => *e = no_array(),
            Expr::Identifier(p) if MISSING_ARRAYS.contains(&p.value.as_str()) => *e = no_array(),
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

fn is_array(name: &ObjectName) -> bool {
    name.0.len() == 1 && name.to_string().eq_ignore_ascii_case("array")
}

/// Array columns of PostgreSQL's catalog that the catalog layer lacks or
/// holds as text.
const MISSING_ARRAYS: [&str; 4] = ["reloptions", "relacl", "typacl", "evttags"];

/// `CAST(NULL AS TEXT[])`: an empty answer that still has an array type.
fn no_array() -> Expr {
    parse_expr("CAST(NULL AS TEXT[])").expect("a constant expression parses")
}

fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).ok()?.parse_expr().ok()
}

/// `SELECT e FROM … WHERE …` (one value, no aggregate, grouping or limit)
/// becomes `SELECT max(e) FROM … WHERE …`.
fn aggregate_single_value(q: &mut Query) {
    if q.limit_clause.is_some() || q.fetch.is_some() {
        return;
    }
    let SetExpr::Select(select) = q.body.as_mut() else { return };
    let grouped = !matches!(&select.group_by, vru_queries::datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(g, _) if g.is_empty());
    if grouped || select.projection.len() != 1 || select.having.is_some() || select.distinct.is_some() {
        return;
    }
    let value = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(v) | SelectItem::ExprWithAlias { expr: v, .. } => v,
        _ => return,
    };
    if has_function(value) {
        // It may aggregate already; functions are rare in these lookups.
        return;
    }
    if let Some(wrapped) = parse_expr(&format!("max({value})")) {
        *value = wrapped;
    }
}

fn has_function(e: &Expr) -> bool {
    struct Found;
    impl Visitor for Found {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            if matches!(e, Expr::Function(_)) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        }
    }
    e.visit(&mut Found).is_break()
}

/// Every relation the query reads (at any depth) is a catalog table or a
/// table function; at least one is from the catalog (`pg_catalog.unnest`
/// counts).
fn reads_only_catalog(q: &Query) -> bool {
    struct Relations {
        catalog: bool,
        other: bool,
    }
    impl Visitor for Relations {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, args, .. } = t {
                let parts: Vec<String> = name.0.iter().map(|p| p.to_string().trim_matches('"').to_lowercase()).collect();
                let catalog = match parts.as_slice() {
                    [schema, _] => schema == "pg_catalog" || schema == "information_schema",
                    [table] => table.starts_with("pg_"),
                    _ => false,
                };
                if args.is_some() && !catalog {
                    // A table function (`unnest(...)`): reads its arguments only.
                } else if catalog {
                    self.catalog = true;
                } else {
                    self.other = true;
                }
            }
            ControlFlow::Continue(())
        }
    }
    let mut r = Relations { catalog: false, other: false };
    let _ = q.visit(&mut r);
    r.catalog && !r.other
}

/// The query names a column of a relation it does not itself bind: `r.oid`
/// where `r` is the outer query's.
fn correlated(q: &Query) -> bool {
    struct Bound(HashSet<String>);
    impl Visitor for Bound {
        type Break = ();
        fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
            let (name, alias) = match t {
                TableFactor::Table { name, alias, .. } => (name.0.last().map(|p| p.to_string()), alias),
                TableFactor::Derived { alias, .. } | TableFactor::UNNEST { alias, .. } | TableFactor::Function { alias, .. } => {
                    (None, alias)
                }
                _ => (None, &None),
            };
            self.0.extend(name.map(|n| n.trim_matches('"').to_lowercase()));
            if let Some(a) = alias {
                self.0.insert(a.name.value.to_lowercase());
            }
            ControlFlow::Continue(())
        }
    }
    struct Outer<'a>(&'a HashSet<String>);
    impl Visitor for Outer<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 && !self.0.contains(&parts[parts.len() - 2].value.to_lowercase()) => {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    let mut bound = Bound(HashSet::new());
    let _ = q.visit(&mut bound);
    q.visit(&mut Outer(&bound.0)).is_break()
}

#[cfg(test)]
mod tests {
    use super::rewrite;
    use vru_queries::datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use vru_queries::datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut s = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        rewrite(&mut s);
        s.to_string()
    }

    #[test]
    fn correlated_catalog_arrays_become_null_and_others_aggregate() {
        let du = "SELECT r.rolname, ARRAY(SELECT b.rolname FROM pg_catalog.pg_auth_members m \
                  JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid) WHERE m.member = r.oid) AS memberof FROM pg_catalog.pg_roles r";
        assert_eq!(rewritten(du), "SELECT r.rolname, CAST(NULL AS TEXT[]) AS memberof FROM pg_catalog.pg_roles r");
        let options =
            "SELECT c.reloptions || array(select 'toast.' || x from pg_catalog.unnest(tc.reloptions) x) FROM pg_catalog.pg_class c";
        assert_eq!(rewritten(options), "SELECT CAST(NULL AS TEXT[]) || CAST(NULL AS TEXT[]) FROM pg_catalog.pg_class c");
        assert_eq!(
            rewritten("SELECT ARRAY(SELECT oid FROM pg_catalog.pg_namespace)"),
            "SELECT (SELECT array_agg(_v) FROM (SELECT oid FROM pg_catalog.pg_namespace) AS _array (_v))"
        );
    }

    #[test]
    fn array_columns_held_as_text_read_as_typed_nulls() {
        assert_eq!(
            rewritten("SELECT pg_catalog.array_to_string(t.typacl, E'\\n') FROM pg_catalog.pg_type t"),
            "SELECT pg_catalog.array_to_string(CAST(NULL AS TEXT[]), E'\\n') FROM pg_catalog.pg_type t"
        );
        let dy = "SELECT evtname, pg_catalog.array_to_string(array(select x from pg_catalog.unnest(evttags) as t(x)), ', ') \
                  FROM pg_catalog.pg_event_trigger e ORDER BY 1";
        assert!(rewritten(dy).contains("unnest(CAST(NULL AS TEXT[]))"), "{}", rewritten(dy));
    }

    #[test]
    fn correlated_catalog_lookups_aggregate_their_one_value() {
        let dt = "SELECT t.typname FROM pg_catalog.pg_type t WHERE (t.typrelid = 0 OR \
                  (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid))";
        assert!(
            rewritten(dt).contains("(SELECT max(c.relkind = 'c') FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid)"),
            "{}",
            rewritten(dt)
        );
    }

    #[test]
    fn an_analysts_own_sql_is_left_alone() {
        for sql in [
            "SELECT ARRAY(SELECT offence_code FROM crimes)",
            "SELECT ARRAY(SELECT x FROM unnest(c.codes) x) FROM crimes c",
            "SELECT ARRAY(SELECT oid FROM pg_catalog.pg_class) FROM crimes",
            "SELECT * FROM crimes c WHERE (SELECT p.age FROM people p WHERE p.id = c.id) > 3",
            "SELECT * FROM pg_catalog.pg_type t WHERE (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid) > 0",
        ] {
            let parsed = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0).to_string();
            assert_eq!(rewritten(sql), parsed, "{sql}");
        }
    }
}
