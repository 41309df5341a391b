//! Roles, and the check every statement passes before it is planned.
//!
//! Two locks, so neither alone has to be perfect: each role's session has
//! only the tables the role may read registered in it (a name that is not
//! there cannot be planned), and every statement's table references are
//! resolved against that list first, so a forbidden table is refused with
//! a permission error (SQLSTATE 42501) rather than "not found", and the
//! refusal is audited. Only reading statements are accepted: the service is
//! read-only, and DDL such as `CREATE EXTERNAL TABLE` would otherwise reach
//! files on the server.

use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use vru_queries::datafusion::sql::sqlparser::ast::{ObjectName, Set, Statement, visit_relations};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Pseudonymised row-level tables, helper views and exact measures.
    Analyst,
    /// Measures under `partner` disclosure control, and the rows its own
    /// organisation sent (`own_<table>`).
    Partner,
    /// Measures under `public` disclosure control only.
    Publisher,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Analyst, Role::Partner, Role::Publisher];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Partner => "partner",
            Role::Publisher => "publisher",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is asking: an authenticated user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    pub partner: Option<String>,
}

/// Schemas every role may read: they describe only the role's own session.
const CATALOG_SCHEMAS: &[&str] = &["pg_catalog", "information_schema"];

/// The prefix of a partner's own-rows tables.
pub const OWN_PREFIX: &str = "own_";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Table { table: String, role: Role, hint: Option<String> },
    ReadOnly { statement: String },
    Setting { what: String },
}

impl Refusal {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Refusal::Table { .. } | Refusal::Setting { .. } => "42501",
            Refusal::ReadOnly { .. } => "25006",
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::Table { table, role, hint: None } => format!("permission denied for table {table} (role {role})"),
            Refusal::Table { table, role, hint: Some(h) } => format!("permission denied for table {table} (role {role}): {h}"),
            Refusal::ReadOnly { statement } => {
                format!("the VRU SQL service is read-only: {statement} statements are not allowed (use SELECT)")
            }
            Refusal::Setting { what } => format!("permission denied to set {what}: server settings are fixed by the administrator"),
        }
    }
}

/// Table names a statement refers to, as written (`schema.table` when
/// qualified), lower-cased. CTE names appear too: a CTE named like a
/// forbidden table is refused, which is the safe way to be wrong.
pub fn relations(stmt: &Statement) -> Vec<String> {
    let mut out = BTreeSet::new();
    let _ = visit_relations(stmt, |name: &ObjectName| {
        out.insert(name.to_string().to_lowercase().replace('"', ""));
        ControlFlow::<()>::Continue(())
    });
    out.into_iter().collect()
}

/// Parses SQL the way the wire handlers do (with the PostgreSQL
/// compatibility rewrites), so the statements checked are the ones run.
pub fn parse(parser: &PostgresCompatibilityParser, sql: &str) -> Result<Vec<Statement>, String> {
    parser.parse(sql).map_err(|e| e.to_string())
}

/// `CREATE TABLE`, `INSERT`, `COPY`: how a refusal names a statement.
fn statement_kind(stmt: &Statement) -> String {
    let text = stmt.to_string().to_uppercase();
    let words: Vec<&str> = text.split(|c: char| !c.is_ascii_alphabetic()).filter(|w| !w.is_empty()).take(3).collect();
    let n = match words.first() {
        Some(&"CREATE" | &"DROP" | &"ALTER") if words.get(1).is_some_and(|w| *w == "EXTERNAL" || *w == "OR") => 3,
        Some(&"CREATE" | &"DROP" | &"ALTER" | &"EXPLAIN") => 2,
        _ => 1,
    };
    words.into_iter().take(n).collect::<Vec<_>>().join(" ")
}

/// Refuses what is not a read, and settings that would lift the server's
/// limits (`SET datafusion.runtime.memory_limit`...) or pretend to switch
/// role.
fn check_kind(stmt: &Statement) -> Result<(), Refusal> {
    match stmt {
        Statement::Query(_)
        | Statement::ShowVariable { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowStatus { .. }
        | Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Close { .. }
        | Statement::Fetch { .. }
        | Statement::Discard { .. }
        | Statement::Deallocate { .. } => Ok(()),
        Statement::Declare { stmts } => {
            for d in stmts {
                if let Some(q) = &d.for_query {
                    check_kind(&Statement::Query(q.clone()))?;
                }
            }
            Ok(())
        }
        Statement::Explain { statement, .. } => check_kind(statement),
        Statement::Set(Set::SingleAssignment { variable, .. }) => {
            let var = variable.to_string().to_lowercase();
            if var.starts_with("datafusion.") { Err(Refusal::Setting { what: var }) } else { Ok(()) }
        }
        Statement::Set(Set::SetTimeZone { .. }) => Ok(()),
        Statement::Set(Set::SetRole { .. } | Set::SetSessionAuthorization(_)) => {
            Err(Refusal::Setting { what: "the role: a user's role is fixed in the users file".into() })
        }
        other => Err(Refusal::ReadOnly { statement: statement_kind(other) }),
    }
}

/// What a role's session holds, for checking statements against.
#[derive(Debug, Clone, Default)]
pub struct Allowed {
    /// Tables and views registered in the role's session.
    pub tables: BTreeSet<String>,
    /// Every name in the analyst's session: a name there but not in
    /// `tables` exists and is forbidden, rather than unknown.
    pub known: BTreeSet<String>,
}

/// Checks one statement for a role; returns the tables it touches.
pub fn check(stmt: &Statement, role: Role, allowed: &Allowed) -> Result<Vec<String>, Refusal> {
    check_kind(stmt)?;
    let names = relations(stmt);
    for full in &names {
        let parts: Vec<&str> = full.split('.').collect();
        let (schema, table) = match parts.as_slice() {
            [t] => (None, *t),
            [s, t] => (Some(*s), *t),
            [_, s, t] => (Some(*s), *t),
            _ => (None, full.as_str()),
        };
        if schema.is_some_and(|s| CATALOG_SCHEMAS.contains(&s)) {
            continue;
        }
        if schema.is_some_and(|s| s != "public") {
            return Err(Refusal::Table { table: full.clone(), role, hint: None });
        }
        if allowed.tables.contains(table) || !allowed.known.contains(table) {
            // Allowed, or unknown everywhere: DataFusion reports "not found".
            continue;
        }
        let hint = match role {
            Role::Partner if allowed.tables.contains(&format!("{OWN_PREFIX}{}", table.trim_end_matches("_log"))) => {
                Some(format!("partners read the rows their organisation sent in {OWN_PREFIX}{}", table.trim_end_matches("_log")))
            }
            Role::Partner | Role::Publisher => {
                Some(format!("role {role} reads measure_* tables (with disclosure control) and reference tables"))
            }
            Role::Analyst => None,
        };
        return Err(Refusal::Table { table: table.to_string(), role, hint });
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(tables: &[&str]) -> Allowed {
        let known = ["police_offences", "police_offences_log", "crimes", "measure_h1", "lsoa_lookup", "own_police_offences"];
        Allowed { tables: tables.iter().map(|s| s.to_string()).collect(), known: known.iter().map(|s| s.to_string()).collect() }
    }

    fn run(sql: &str, role: Role, a: &Allowed) -> Result<Vec<String>, Refusal> {
        let parser = PostgresCompatibilityParser::new();
        let stmts = parse(&parser, sql).unwrap();
        let mut all = Vec::new();
        for s in &stmts {
            all.extend(check(s, role, a)?);
        }
        Ok(all)
    }

    #[test]
    fn partners_see_measures_and_their_own_rows_only() {
        let a = allowed(&["measure_h1", "lsoa_lookup", "own_police_offences"]);
        assert_eq!(run("SELECT * FROM measure_h1 WHERE period = '2023/24'", Role::Partner, &a).unwrap(), ["measure_h1"]);
        assert!(run("SELECT count(*) FROM own_police_offences", Role::Partner, &a).is_ok());
        let e = run("SELECT * FROM police_offences", Role::Partner, &a).unwrap_err();
        assert_eq!(e.sqlstate(), "42501");
        assert!(e.message().starts_with("permission denied for table police_offences (role partner)"), "{}", e.message());
        assert!(e.message().contains("own_police_offences"));
        // Hidden in a subquery, a join, a CTE or a qualified name: still found.
        for sql in [
            "SELECT * FROM measure_h1 WHERE period IN (SELECT CAST(count(*) AS VARCHAR) FROM police_offences_log)",
            "SELECT * FROM measure_h1 m JOIN crimes c ON true",
            "WITH x AS (SELECT * FROM public.crimes) SELECT * FROM x",
            "SELECT * FROM datafusion.public.police_offences",
            "SELECT * FROM measure_h1; SELECT * FROM crimes",
            "EXPLAIN SELECT * FROM crimes",
            "DECLARE c CURSOR FOR SELECT * FROM crimes",
        ] {
            assert_eq!(run(sql, Role::Partner, &a).unwrap_err().sqlstate(), "42501", "{sql}");
        }
        // Other catalogs and schemas are refused outright.
        assert!(run("SELECT * FROM other.tbl", Role::Partner, &a).is_err());
    }

    #[test]
    fn catalog_queries_pass_and_writes_never_do() {
        let a = allowed(&["measure_h1"]);
        for sql in [
            "SELECT relname FROM pg_catalog.pg_class",
            "SELECT table_name FROM information_schema.tables",
            "SET extra_float_digits = 3",
            "SET TIME ZONE 'UTC'",
            "SHOW search_path",
            "BEGIN",
            "COMMIT",
            "SELECT 1",
            "SELECT * FROM no_such_table",
        ] {
            assert!(run(sql, Role::Publisher, &a).is_ok(), "{sql}");
        }
        for sql in [
            "CREATE TABLE t AS SELECT 1",
            "CREATE VIEW v AS SELECT 1",
            "INSERT INTO measure_h1 VALUES (1)",
            "DROP TABLE measure_h1",
            "COPY measure_h1 TO '/tmp/x.csv'",
            "EXPLAIN ANALYZE CREATE TABLE t AS SELECT 1",
        ] {
            assert_eq!(run(sql, Role::Analyst, &a).unwrap_err().sqlstate(), "25006", "{sql}");
        }
        let copy = run("COPY (SELECT 1) TO STDOUT", Role::Analyst, &a).unwrap_err().message();
        assert!(copy.contains(": COPY statements are not allowed"), "{copy}");
        for sql in ["SET datafusion.runtime.memory_limit = '100G'", "SET ROLE analyst", "SET SESSION AUTHORIZATION bo"] {
            assert_eq!(run(sql, Role::Analyst, &a).unwrap_err().sqlstate(), "42501", "{sql}");
        }
    }

    #[test]
    fn analysts_read_everything_known() {
        let a = allowed(&["police_offences", "police_offences_log", "crimes", "measure_h1", "lsoa_lookup"]);
        let t = run("SELECT * FROM crimes c JOIN police_offences p ON true", Role::Analyst, &a).unwrap();
        assert_eq!(t, ["crimes", "police_offences"]);
    }
}
