//! Roles, and the checks every statement passes before it is planned.
//!
//! Two locks, so neither alone has to be perfect: each role's session has
//! only the tables the role may read registered in it (a name that is not
//! there cannot be planned), and every statement's table references are
//! resolved against that list first, so a forbidden table is refused with
//! a permission error (SQLSTATE 42501) rather than "not found", and the
//! refusal is audited. Statements pass an allow-list ([`classify`]) on the
//! parsed statement: reads, and a short list of harmless settings; the
//! service is read-only, and DDL such as `CREATE EXTERNAL TABLE` would
//! otherwise reach files on the server.

use crate::inspect::{Complexity, inspect, statement_name};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use vru_queries::datafusion::sql::sqlparser::ast::{ObjectName, Set, Statement};

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
    /// The SCRAM StoredKey the user logged in with: a new password ends
    /// the session.
    pub stored_key: String,
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
    Explain { role: Role },
    NotSupported { what: String },
    TooComplex { what: String },
}

impl Refusal {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Refusal::Table { .. } | Refusal::Setting { .. } | Refusal::Explain { .. } => "42501",
            Refusal::ReadOnly { .. } => "25006",
            Refusal::NotSupported { .. } => "0A000",
            Refusal::TooComplex { .. } => "54001",
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
            Refusal::Explain { role } => {
                format!(
                    "permission denied for EXPLAIN ANALYZE and EXPLAIN VERBOSE (role {role}): they show the lake's files; plain EXPLAIN works"
                )
            }
            Refusal::NotSupported { what } => format!("not supported by the VRU SQL service: {what}"),
            Refusal::TooComplex { what } => format!("statement too complex: {what}"),
        }
    }

    /// From what [`crate::inspect::inspect`] found.
    pub fn from_finding(f: &crate::inspect::Finding) -> Refusal {
        use crate::inspect::Finding;
        match f {
            Finding::TooDeep { limit } => Refusal::TooComplex {
                what: format!(
                    "expressions or UNIONs nested more than {limit} deep (server.max_expression_depth); split it, or use IN (...) for long lists of alternatives"
                ),
            },
            Finding::TooManyTerms { limit } => Refusal::TooComplex {
                what: format!("more than {limit} terms (server.max_expression_terms); filter with a join to a smaller query instead"),
            },
            Finding::SelectInto => Refusal::ReadOnly { statement: "SELECT ... INTO".into() },
            Finding::Nested { statement } => Refusal::ReadOnly { statement: format!("{statement} (inside a query)") },
        }
    }
}

/// What an allowed statement does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `SELECT`, `WITH`, `VALUES`, `EXPLAIN`: planned and run by DataFusion.
    Query,
    /// `SET` of an allowed variable, `SHOW`: answered per connection,
    /// never touching DataFusion's configuration.
    Setting,
    /// `BEGIN`, `COMMIT`, `ROLLBACK`: answered, nothing to do (read-only).
    Transaction,
    /// `DEALLOCATE`, `DISCARD`, `RESET`: client housekeeping, answered
    /// without effect on the server.
    Housekeeping,
    /// `DECLARE … CURSOR FOR` a query, `FETCH` forward, `CLOSE`
    /// ([`crate::cursor`]); the declared query is checked as any query.
    Cursor,
}

/// Variables clients set on connect or that only shape how this
/// connection's results are printed, by normalised name (unquoted,
/// lower-case, parts joined with `.`). Nothing here reaches DataFusion's
/// settings (memory, spilling, dialect): those names are not on the list,
/// however they are quoted.
const SETTABLE: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "extra_float_digits",
    "idle_in_transaction_session_timeout",
    "intervalstyle",
    "jit",
    "lc_messages",
    "lock_timeout",
    "search_path",
    "standard_conforming_strings",
    "statement_timeout",
    "time zone",
    "timezone",
    "transaction_isolation",
];

/// `"Search_Path"`, `search_path`, `public.x`: the name as the server
/// would resolve it. A quoted name keeps its dots inside one part, so
/// `"datafusion.runtime.memory_limit"` normalises to itself and is refused.
pub fn normalised(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.as_ident().map(|i| i.value.to_lowercase()).unwrap_or_else(|| p.to_string().to_lowercase()))
        .collect::<Vec<_>>()
        .join(".")
}

fn settable(name: &ObjectName) -> Result<(), Refusal> {
    let n = normalised(name);
    if SETTABLE.contains(&n.as_str()) { Ok(()) } else { Err(Refusal::Setting { what: n }) }
}

/// The allow-list: what a statement may be, for a role. Anything not named
/// here is refused: writes as read-only (25006), settings and role changes
/// as permission errors (42501), SQL-level `PREPARE` and cursors other
/// than forward-only ones as not supported (0A000).
pub fn classify(stmt: &Statement, role: Role) -> Result<Action, Refusal> {
    match stmt {
        Statement::Query(_) => Ok(Action::Query),
        Statement::Explain { analyze, verbose, statement, options, .. } => {
            // The physical plan names the lake's files: analysts only.
            let opts = options.as_deref().unwrap_or_default();
            let named = |n: &str| opts.iter().any(|o| o.name.value.eq_ignore_ascii_case(n));
            if role != Role::Analyst && (*analyze || *verbose || named("analyze") || named("verbose")) {
                return Err(Refusal::Explain { role });
            }
            match classify(statement, role)? {
                Action::Query => Ok(Action::Query),
                _ => Err(Refusal::NotSupported { what: "EXPLAIN of anything but a query".into() }),
            }
        }
        Statement::Set(Set::SingleAssignment { hivevar: false, variable, .. }) => settable(variable).map(|()| Action::Setting),
        Statement::Set(Set::MultipleAssignments { assignments }) => {
            assignments.iter().try_for_each(|a| settable(&a.name)).map(|()| Action::Setting)
        }
        Statement::Set(Set::SetTimeZone { .. } | Set::SetNames { .. } | Set::SetNamesDefault {} | Set::SetTransaction { .. }) => {
            Ok(Action::Setting)
        }
        Statement::Set(Set::SetRole { .. } | Set::SetSessionAuthorization(_)) => {
            Err(Refusal::Setting { what: "the role: a user's role is fixed in the users file".into() })
        }
        Statement::Set(_) => Err(Refusal::Setting { what: "this form of SET".into() }),
        Statement::ShowVariable { .. } => Ok(Action::Setting),
        Statement::StartTransaction { .. } | Statement::Commit { .. } | Statement::Rollback { .. } => Ok(Action::Transaction),
        Statement::Deallocate { .. } | Statement::Discard { .. } | Statement::Reset(_) => Ok(Action::Housekeeping),
        Statement::Declare { .. } | Statement::Fetch { .. } | Statement::Close { .. } => match crate::cursor::statement::op(stmt) {
            Some(Ok(_)) => Ok(Action::Cursor),
            Some(Err(what)) => Err(Refusal::NotSupported { what }),
            None => Err(Refusal::NotSupported { what: "this cursor statement".into() }),
        },
        Statement::Prepare { .. } | Statement::Execute { .. } => {
            Err(Refusal::NotSupported { what: "SQL-level PREPARE and EXECUTE: use your driver's prepared statements".into() })
        }
        other => Err(Refusal::ReadOnly { statement: statement_name(other).to_string() }),
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

/// Checks the tables a statement names (from [`crate::inspect::inspect`])
/// for a role.
pub fn check_tables(names: &[String], role: Role, allowed: &Allowed) -> Result<(), Refusal> {
    for full in names {
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
    Ok(())
}

/// The outcome of the checks of one statement, with what the audit log
/// records of it whether it passed or not.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub name: &'static str,
    pub tables: Vec<String>,
    pub result: Result<Action, Refusal>,
}

/// Every check a statement passes before planning: the allow-list, its
/// shape (nesting, terms, writes inside a query) and its tables.
pub fn check(stmt: &Statement, role: Role, allowed: &Allowed, limits: Complexity) -> Verdict {
    let name = statement_name(stmt);
    let mut target = stmt;
    while let Statement::Explain { statement, .. } = target {
        target = statement;
    }
    let shape = inspect(target, limits);
    let tables = shape.as_ref().map(|s| s.relations.clone()).unwrap_or_default();
    let result = classify(stmt, role).and_then(|action| {
        let shape = shape.map_err(|f| Refusal::from_finding(&f))?;
        check_tables(&shape.relations, role, allowed)?;
        Ok(action)
    });
    Verdict { name, tables, result }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_postgres::datafusion_pg_catalog::sql::PostgresCompatibilityParser;

    const LIMITS: Complexity = Complexity { max_depth: 200, max_terms: 10_000 };

    fn allowed(tables: &[&str]) -> Allowed {
        let known = ["police_offences", "police_offences_log", "crimes", "measure_h1", "lsoa_lookup", "own_police_offences"];
        Allowed { tables: tables.iter().map(|s| s.to_string()).collect(), known: known.iter().map(|s| s.to_string()).collect() }
    }

    fn run(sql: &str, role: Role, a: &Allowed) -> Result<Vec<String>, Refusal> {
        let stmts = PostgresCompatibilityParser::new().parse(sql).unwrap();
        let mut all = Vec::new();
        for s in &stmts {
            let v = check(s, role, a, LIMITS);
            v.result?;
            all.extend(v.tables);
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
            "DECLARE c CURSOR WITH HOLD FOR SELECT * FROM measure_h1 JOIN police_offences_log ON true",
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
        for sql in [
            "SET datafusion.runtime.memory_limit = '100G'",
            "SET \"datafusion.runtime.memory_limit\" = '1500M'",
            "SET \"datafusion\".\"runtime\".memory_limit = '1500M'",
            "SET datafusion.runtime.temp_directory = '/tmp/x'",
            "SET datafusion.sql_parser.dialect = 'mysql'",
            "SET \"Search_Path\".x = 1",
            "SET ROLE analyst",
            "SET SESSION AUTHORIZATION bo",
        ] {
            assert_eq!(run(sql, Role::Analyst, &a).unwrap_err().sqlstate(), "42501", "{sql}");
        }
        for sql in [
            "SELECT 1 INTO t",
            "SELECT * INTO measure_h1_corrected FROM measure_h1",
            "WITH x AS (DELETE FROM measure_h1 RETURNING *) SELECT * FROM x",
            "TRUNCATE measure_h1",
            "VACUUM",
        ] {
            assert_eq!(run(sql, Role::Analyst, &a).unwrap_err().sqlstate(), "25006", "{sql}");
        }
        for sql in ["DECLARE c SCROLL CURSOR FOR SELECT 1", "FETCH BACKWARD 10 FROM c", "PREPARE p AS SELECT 1", "EXECUTE p"] {
            assert_eq!(run(sql, Role::Analyst, &a).unwrap_err().sqlstate(), "0A000", "{sql}");
        }
        for sql in ["DECLARE c CURSOR FOR SELECT * FROM measure_h1", "FETCH 10 FROM c", "CLOSE c", "CLOSE ALL"] {
            let stmt = PostgresCompatibilityParser::new().parse(sql).unwrap().remove(0);
            assert_eq!(check(&stmt, Role::Partner, &a, LIMITS).result.unwrap(), Action::Cursor, "{sql}");
        }
        let write = "DECLARE c CURSOR FOR WITH x AS (DELETE FROM measure_h1 RETURNING *) SELECT * FROM x";
        assert!(run(write, Role::Analyst, &a).is_err(), "{write}");
        // Quoting does not matter for the allowed ones either.
        for sql in ["SET \"application_name\" = 'x'", "SET Application_Name TO 'x'", "SET SESSION timezone TO 'UTC'"] {
            assert!(run(sql, Role::Partner, &a).is_ok(), "{sql}");
        }
    }

    #[test]
    fn explain_shows_files_to_analysts_only() {
        let a = allowed(&["measure_h1"]);
        assert!(run("EXPLAIN SELECT * FROM measure_h1", Role::Partner, &a).is_ok());
        for sql in ["EXPLAIN ANALYZE SELECT * FROM measure_h1", "EXPLAIN VERBOSE SELECT 1", "EXPLAIN (ANALYZE) SELECT 1"] {
            assert_eq!(run(sql, Role::Partner, &a).unwrap_err().sqlstate(), "42501", "{sql}");
            assert!(run(sql, Role::Analyst, &a).is_ok(), "{sql}");
        }
    }

    #[test]
    fn analysts_read_everything_known() {
        let a = allowed(&["police_offences", "police_offences_log", "crimes", "measure_h1", "lsoa_lookup"]);
        let t = run("SELECT * FROM crimes c JOIN police_offences p ON true", Role::Analyst, &a).unwrap();
        assert_eq!(t, ["crimes", "police_offences"]);
    }
}
