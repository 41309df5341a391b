//! What a parsed statement is made of, measured before anything plans it:
//! expression nesting, the number of terms, set-operation chains, the
//! tables it names, and constructs that write (`SELECT ... INTO`, a
//! data-modifying CTE).
//!
//! Deep trees are the danger. sqlparser builds `1+1+...+1` and the
//! `a = 'x' OR a = 'y' OR ...` filters BI tools generate as left-deep chains
//! without recursing, so the parser's own recursion limit never sees them;
//! everything after it (DataFusion's planner, derived `Clone`, `Drop`,
//! `Hash` and `PartialEq` of `Expr`, physical evaluation) recurses once per
//! level. Chains of `AND` or `OR` are rebalanced first (both are
//! associative, NULLs included), so a 3,000-value multi-select nests 12
//! deep, not 3,000; what is still deeper than the limit is refused with
//! SQLSTATE 54001. The walk itself is sqlparser's visitor (stack-safe with
//! its `recursive-protection` feature) and stops at the first level past
//! the limit.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use vru_queries::datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, ObjectName, Query, Select, SetExpr, Statement, Value, ValueWithSpan, Visit, VisitMut, Visitor, VisitorMut,
};
use vru_queries::datafusion::sql::sqlparser::tokenizer::Span;

/// Bounds on a statement's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Complexity {
    /// Nesting of expressions (after rebalancing), and of set operations.
    pub max_depth: usize,
    /// Expression nodes and `SELECT`s in the whole statement.
    pub max_terms: usize,
}

/// Why a statement was refused by [`inspect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Nested deeper than the limit.
    TooDeep { limit: usize },
    /// More terms than the limit.
    TooManyTerms { limit: usize },
    /// `SELECT ... INTO`: creates a table.
    SelectInto,
    /// A statement inside the statement (`WITH x AS (INSERT ...)`).
    Nested { statement: &'static str },
}

/// What the walk found in an accepted statement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// Table names as written, lower-cased, quotes removed.
    pub relations: Vec<String>,
    pub depth: usize,
    pub terms: usize,
}

struct Walk {
    limits: Complexity,
    depth: usize,
    max_seen: usize,
    terms: usize,
    relations: BTreeSet<String>,
    root: bool,
}

impl Walk {
    fn count(&mut self, terms: usize) -> ControlFlow<Finding> {
        self.terms = self.terms.saturating_add(terms);
        if self.terms > self.limits.max_terms {
            return ControlFlow::Break(Finding::TooManyTerms { limit: self.limits.max_terms });
        }
        ControlFlow::Continue(())
    }
}

/// The depth and `SELECT` count of a chain of set operations (`UNION`),
/// without recursion.
fn set_operations(body: &SetExpr) -> (usize, usize) {
    let mut stack = vec![(body, 1usize)];
    let (mut deepest, mut selects) = (0, 0);
    while let Some((e, d)) = stack.pop() {
        deepest = deepest.max(d);
        match e {
            SetExpr::SetOperation { left, right, .. } => {
                stack.push((left, d + 1));
                stack.push((right, d + 1));
            }
            _ => selects += 1,
        }
    }
    (deepest, selects)
}

impl Visitor for Walk {
    type Break = Finding;

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<Finding> {
        if std::mem::take(&mut self.root) {
            return ControlFlow::Continue(());
        }
        ControlFlow::Break(Finding::Nested { statement: statement_name(s) })
    }

    fn pre_visit_query(&mut self, q: &Query) -> ControlFlow<Finding> {
        let (depth, selects) = set_operations(&q.body);
        if depth > self.limits.max_depth {
            return ControlFlow::Break(Finding::TooDeep { limit: self.limits.max_depth });
        }
        if let SetExpr::Table(t) = q.body.as_ref() {
            // `TABLE name`: a relation the visitor does not report.
            let name = [t.schema_name.as_deref(), t.table_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(".");
            self.relations.insert(name.to_lowercase());
        }
        if let SetExpr::Insert(s) | SetExpr::Update(s) | SetExpr::Delete(s) | SetExpr::Merge(s) = q.body.as_ref() {
            return ControlFlow::Break(Finding::Nested { statement: statement_name(s) });
        }
        self.count(selects)
    }

    fn pre_visit_select(&mut self, s: &Select) -> ControlFlow<Finding> {
        if s.into.is_some() {
            return ControlFlow::Break(Finding::SelectInto);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<Finding> {
        let parts: Vec<String> = name.0.iter().map(|p| p.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| p.to_string())).collect();
        self.relations.insert(parts.join(".").to_lowercase());
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, _e: &Expr) -> ControlFlow<Finding> {
        self.depth += 1;
        self.max_seen = self.max_seen.max(self.depth);
        if self.depth > self.limits.max_depth {
            return ControlFlow::Break(Finding::TooDeep { limit: self.limits.max_depth });
        }
        self.count(1)
    }

    fn post_visit_expr(&mut self, _e: &Expr) -> ControlFlow<Finding> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }
}

/// Measures `stmt` against `limits`; see the module documentation.
pub fn inspect(stmt: &Statement, limits: Complexity) -> Result<Shape, Finding> {
    let mut w = Walk { limits, depth: 0, max_seen: 0, terms: 0, relations: BTreeSet::new(), root: true };
    match stmt.visit(&mut w) {
        ControlFlow::Break(f) => Err(f),
        ControlFlow::Continue(()) => Ok(Shape { relations: w.relations.into_iter().collect(), depth: w.max_seen, terms: w.terms }),
    }
}

fn placeholder() -> Expr {
    Expr::Value(ValueWithSpan { value: Value::Null, span: Span::empty() })
}

fn chained(e: &Expr) -> Option<&BinaryOperator> {
    match e {
        Expr::BinaryOp { op: op @ (BinaryOperator::And | BinaryOperator::Or), .. } => Some(op),
        _ => None,
    }
}

/// The operands of a chain of `op`, left to right, without recursion.
fn flatten(e: Expr, op: &BinaryOperator) -> Vec<Expr> {
    let mut out = Vec::new();
    let mut stack = vec![e];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryOp { left, op: o, right } if &o == op => {
                stack.push(*right);
                stack.push(*left);
            }
            other => out.push(other),
        }
    }
    out
}

fn balanced(mut operands: Vec<Expr>, op: &BinaryOperator) -> Expr {
    if operands.len() == 1 {
        return operands.pop().expect("one operand");
    }
    let right = operands.split_off(operands.len() / 2);
    Expr::BinaryOp { left: Box::new(balanced(operands, op)), op: op.clone(), right: Box::new(balanced(right, op)) }
}

struct Rebalance;

impl VisitorMut for Rebalance {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        let Some(op) = chained(e).cloned() else { return ControlFlow::Continue(()) };
        // Only chains worth it: a short one is left as written.
        let (mut n, mut cur) = (0, &*e);
        while let Expr::BinaryOp { left, op: o, .. } = cur {
            if *o != op {
                break;
            }
            n += 1;
            cur = left;
        }
        if n >= 8 {
            let whole = std::mem::replace(e, placeholder());
            *e = balanced(flatten(whole, &op), &op);
        }
        ControlFlow::Continue(())
    }
}

/// Rebalances chains of `AND` and `OR` in place; see the module
/// documentation.
pub fn rebalance(stmt: &mut Statement) {
    let _ = stmt.visit(&mut Rebalance);
}

/// How a statement is named in refusals and in the audit log, read from
/// the parsed statement (never from its text, which a comment can pad).
pub fn statement_name(stmt: &Statement) -> &'static str {
    match stmt {
        Statement::Query(q) => match q.body.as_ref() {
            _ if q.with.is_some() => "WITH",
            SetExpr::Values(_) => "VALUES",
            _ => "SELECT",
        },
        Statement::Explain { analyze: true, .. } => "EXPLAIN ANALYZE",
        Statement::Explain { .. } | Statement::ExplainTable { .. } => "EXPLAIN",
        Statement::Set(_) => "SET",
        Statement::ShowVariable { .. } | Statement::ShowVariables { .. } | Statement::ShowStatus { .. } => "SHOW",
        Statement::StartTransaction { .. } => "BEGIN",
        Statement::Commit { .. } => "COMMIT",
        Statement::Rollback { .. } => "ROLLBACK",
        Statement::Deallocate { .. } => "DEALLOCATE",
        Statement::Discard { .. } => "DISCARD",
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::Copy { .. } | Statement::CopyIntoSnowflake { .. } => "COPY",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::CreateFunction(_) => "CREATE FUNCTION",
        Statement::CreateRole(_) | Statement::CreateUser(_) => "CREATE ROLE",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::Drop { .. } => "DROP",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::Grant(_) => "GRANT",
        Statement::Revoke(_) => "REVOKE",
        Statement::Declare { .. } => "DECLARE",
        Statement::Fetch { .. } => "FETCH",
        Statement::Close { .. } => "CLOSE",
        Statement::Prepare { .. } => "PREPARE",
        Statement::Execute { .. } => "EXECUTE",
        Statement::Analyze(_) => "ANALYZE",
        Statement::Vacuum(_) => "VACUUM",
        Statement::Call(_) => "CALL",
        Statement::Use(_) => "USE",
        Statement::Reset(_) => "RESET",
        Statement::LISTEN { .. } | Statement::UNLISTEN { .. } | Statement::NOTIFY { .. } => "LISTEN/NOTIFY",
        Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } => "SAVEPOINT",
        Statement::Comment { .. } => "COMMENT",
        Statement::Lock(_) | Statement::LockTables { .. } => "LOCK",
        _ => "this kind of",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;

    const LIMITS: Complexity = Complexity { max_depth: 100, max_terms: 15_000 };

    fn parse(sql: &str) -> Statement {
        PostgresCompatibilityParser::new().parse(sql).unwrap().remove(0)
    }

    /// On a thread with room: dropping a 5,000-deep tree recurses.
    fn big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new().stack_size(256 << 20).spawn(f).unwrap().join().unwrap()
    }

    #[test]
    fn bi_tool_multi_selects_are_rebalanced_and_pass() {
        big_stack(|| {
            let terms: Vec<String> = (0..3000).map(|i| format!("a = 'v{i}'")).collect();
            let mut s = parse(&format!("SELECT * FROM t WHERE {}", terms.join(" OR ")));
            assert_eq!(inspect(&s, LIMITS), Err(Finding::TooDeep { limit: 100 }));
            rebalance(&mut s);
            let shape = inspect(&s, LIMITS).unwrap();
            assert!(shape.depth <= 16, "{}", shape.depth);
            assert_eq!(shape.relations, ["t"]);
            // Same meaning: every operand kept, in order.
            let text = s.to_string();
            assert!(text.contains("a = 'v0'") && text.contains("a = 'v2999'"));
        });
    }

    #[test]
    fn long_arithmetic_chains_and_unions_are_refused() {
        big_stack(|| {
            let mut s = parse(&format!("SELECT {}", vec!["1"; 2000].join("+")));
            rebalance(&mut s);
            assert_eq!(inspect(&s, LIMITS), Err(Finding::TooDeep { limit: 100 }));
            let s = parse(&vec!["SELECT 1"; 500].join(" UNION ALL "));
            assert_eq!(inspect(&s, LIMITS), Err(Finding::TooDeep { limit: 100 }));
            let s = parse(&format!("SELECT * FROM t WHERE a IN ({})", vec!["1"; 20_000].join(",")));
            assert_eq!(inspect(&s, LIMITS), Err(Finding::TooManyTerms { limit: 15_000 }));
        });
    }

    #[test]
    fn writes_inside_queries_are_found() {
        assert_eq!(inspect(&parse("SELECT 1 INTO t"), LIMITS), Err(Finding::SelectInto));
        assert_eq!(inspect(&parse("SELECT * FROM (SELECT 1 INTO t) x"), LIMITS).err(), Some(Finding::SelectInto));
        let f = inspect(&parse("WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x"), LIMITS).unwrap_err();
        assert_eq!(f, Finding::Nested { statement: "INSERT" });
    }

    #[test]
    fn relations_are_read_from_the_tree() {
        let comment = format!("/* {} */", "x".repeat(4000));
        let s = parse(&format!("{comment} SELECT * FROM \"Crimes\" c JOIN public.victims v ON true WHERE c.x IN (SELECT y FROM z)"));
        assert_eq!(inspect(&s, LIMITS).unwrap().relations, ["crimes", "public.victims", "z"]);
    }
}
