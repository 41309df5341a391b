use super::*;
use crate::memory::{QueryPool, service_pool};
use vru_queries::datafusion::arrow::record_batch::RecordBatch;
use vru_queries::datafusion::execution::TaskContext;
use vru_queries::datafusion::physical_plan::collect;
use vru_queries::datafusion::prelude::SessionContext;

/// Plans `sql` with the guards bound to a fresh query pool of `limit`
/// bytes and runs it; returns the rows and the pool's peak.
async fn run(sql: &str, limit: usize) -> (Result<Vec<RecordBatch>>, usize) {
    let ctx = SessionContext::new();
    let service = service_pool(limit * 2);
    let query = QueryPool::new(service, limit);
    let pool: Arc<dyn MemoryPool> = query.clone();
    let result = async {
        let state = ctx.state();
        let plan = guard_plan(state.create_logical_plan(sql).await?, &pool)?;
        let physical = guard_physical(state.create_physical_plan(&plan).await?, &pool)?;
        let mut env = state.runtime_env().as_ref().clone();
        env.memory_pool = pool.clone();
        collect(physical, Arc::new(TaskContext::from(&state).with_runtime(Arc::new(env)))).await
    }
    .await;
    (result, query.peak())
}

fn exhausted(r: &Result<Vec<RecordBatch>>) -> bool {
    r.as_ref().is_err_and(|e| e.to_string().contains("Resources exhausted"))
}

#[tokio::test]
async fn amplifying_functions_are_sized_before_they_build() {
    for sql in [
        "SELECT length(repeat('x', 600000000))",
        "SELECT length(lpad('x', 600000000))",
        "SELECT length(rpad('', 600000000, 'ab'))",
        "SELECT length(replace(repeat('a', 20000), '', repeat('b', 20000)))",
        "SELECT cardinality(range(1, 10000000000))",
        "SELECT cardinality(generate_series(DATE '1900-01-01', DATE '2100-01-01', INTERVAL '1 second'))",
        "SELECT cardinality(array_repeat(1, 1000000000))",
        "SELECT length(repeat('x', v)) FROM (VALUES (300000000), (300000000)) t(v)",
    ] {
        let (r, _) = run(sql, 64 << 20).await;
        assert!(exhausted(&r), "{sql}: {r:?}");
    }
}

#[tokio::test]
async fn results_keep_their_names_and_values() {
    let (r, peak) = run("SELECT repeat('ab', 3), upper('x') || 'y' AS c, lpad('7', 3, '0')", 64 << 20).await;
    let batches = r.unwrap();
    let schema = batches[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["repeat(Utf8(\"ab\"),Int64(3))", "c", "lpad(Utf8(\"7\"),Int64(3),Utf8(\"0\"))"]);
    let text = vru_queries::datafusion::arrow::util::pretty::pretty_format_batches(&batches).unwrap().to_string();
    assert!(text.contains("ababab") && text.contains("Xy") && text.contains("007"), "{text}");
    assert!(peak > 0, "results were reserved");
}

#[tokio::test]
async fn long_concatenations_are_reserved_as_they_grow() {
    // Each step doubles: 2^20 x 64 bytes = 64 MiB per row at the end.
    let mut sql = "WITH s0 AS (SELECT repeat('x', 64) AS s FROM range(4))".to_string();
    for i in 1..=20 {
        sql.push_str(&format!(", s{i} AS (SELECT s || s AS s FROM s{})", i - 1));
    }
    sql.push_str(" SELECT length(s) FROM s20");
    let (r, peak) = run(&sql, 32 << 20).await;
    assert!(exhausted(&r), "{r:?}");
    assert!(peak <= 32 << 20);
}

#[tokio::test]
async fn quadratic_window_aggregates_are_refused() {
    let (r, _) = run("SELECT array_agg(value) OVER (ORDER BY value) FROM range(100000)", 64 << 20).await;
    let e = r.unwrap_err();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut found = false;
    while let Some(err) = cur {
        found |= err.downcast_ref::<Unsupported>().is_some();
        cur = err.source();
    }
    assert!(found, "{e}");
}

#[tokio::test]
async fn window_input_is_reserved() {
    let (r, _) = run(
        "SELECT sum(value) OVER (ORDER BY value DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM range(20000000)",
        32 << 20,
    )
    .await;
    assert!(exhausted(&r), "{r:?}");
    let (r, _) = run("SELECT sum(value) OVER () FROM range(1000)", 32 << 20).await;
    assert_eq!(r.unwrap().iter().map(|b| b.num_rows()).sum::<usize>(), 1000);
}

#[tokio::test]
async fn unnest_output_is_reserved() {
    let (r, _) = run("SELECT repeat('x', 1000), unnest(range(1, 1000000))", 64 << 20).await;
    assert!(exhausted(&r), "{r:?}");
}
