//! Bounds on the memory a query's expressions build, which DataFusion does
//! not reserve by itself.
//!
//! Applied to each query's logical plan just before it is optimised and
//! run, bound to that query's pool ([`crate::memory::QueryPool`]):
//!
//! - functions whose result can be far larger than their arguments
//!   (`repeat`, `lpad`, `replace`, `range`, `array_repeat`...) are wrapped
//!   so the size of the result is worked out from the arguments and checked
//!   against the pool *before* it is built: `repeat('x', 600000000)` fails
//!   with 53200 instead of allocating 600 MB (also when the optimiser folds
//!   it as a constant);
//! - every scalar function's and every `||`'s result is reserved in the
//!   pool for as long as it lives, so long chains (`x || x || ...`, nested
//!   `upper(...)`) cannot grow past the limit unseen;
//! - `array_agg` and `string_agg` as window functions are refused: their
//!   results grow with the square of the frame;
//! - after physical planning, window operators' input is reserved while
//!   they buffer it, the output of operators that multiply rows
//!   (`UNNEST`, nested-loop and cross joins) is reserved as it flows
//!   (`UNNEST`'s is sized before it is built, [`crate::fanout`]), and a
//!   nested-loop join's probe side gets yield points
//!   ([`crate::cooperate`]).

use crate::cooperate::{PROBE_ROWS, YieldExec};
use crate::fanout::FanoutCheckExec;

/// Rows per batch out of a cross join (it makes one batch per build-side
/// row, the size of a probe-side batch).
const CROSS_OUTPUT_ROWS: usize = 8192;
use crate::memory::{AccountExec, HoldExec, account, would_fit};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use vru_queries::datafusion::arrow::array::{Array, ArrayRef, Int64Array};
use vru_queries::datafusion::arrow::compute::{cast, kernels::length::length};
use vru_queries::datafusion::arrow::datatypes::{DataType, FieldRef, IntervalMonthDayNanoType, TimeUnit};
use vru_queries::datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use vru_queries::datafusion::error::{DataFusionError, Result};
use vru_queries::datafusion::execution::memory_pool::MemoryPool;
use vru_queries::datafusion::logical_expr::expr::ScalarFunction;
use vru_queries::datafusion::logical_expr::expr_rewriter::NamePreserver;
use vru_queries::datafusion::logical_expr::utils::split_conjunction;
use vru_queries::datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Documentation, Expr, LogicalPlan, Operator, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature, Volatility, WindowFunctionDefinition,
};
use vru_queries::datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};
use vru_queries::datafusion::scalar::ScalarValue;

/// How a function's result size follows from its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Bound {
    /// `repeat(s, n)`: |s| x n.
    Repeat,
    /// `lpad(s, n [, fill])`, `rpad`: n characters of up to 4 bytes.
    Pad,
    /// `replace(s, from, to)`: every `from` (or, empty, every gap) becomes `to`.
    Replace,
    /// `regexp_replace(s, re, repl [, flags])`: each match may become
    /// `repl` with every back-reference the whole of `s`.
    RegexpReplace,
    /// `concat`, `make_array`, `array_concat`: the sum of the arguments.
    Sum,
    /// `concat_ws(sep, ...)`: the sum plus a separator per argument.
    SumWithSeparator,
    /// `array_repeat(x, n)`: n copies of x.
    ArrayRepeat,
    /// `array_resize(a, n [, fill])`: n elements.
    ArrayResize,
    /// `range(start, stop [, step])`, `generate_series`: the element count.
    Range,
    /// `string_to_array(s, sep)`: up to |s| + 1 elements.
    Split,
}

fn bound_of(name: &str) -> Option<Bound> {
    Some(match name {
        "repeat" => Bound::Repeat,
        "lpad" | "rpad" => Bound::Pad,
        "replace" => Bound::Replace,
        "regexp_replace" => Bound::RegexpReplace,
        "concat" | "make_array" | "array_concat" | "array_cat" | "list_concat" | "make_list" => Bound::Sum,
        "concat_ws" => Bound::SumWithSeparator,
        "array_repeat" | "list_repeat" => Bound::ArrayRepeat,
        "array_resize" | "list_resize" => Bound::ArrayResize,
        "range" | "generate_series" => Bound::Range,
        "string_to_array" | "string_to_list" => Bound::Split,
        _ => return None,
    })
}

fn as_array(v: &ColumnarValue, rows: usize) -> Result<ArrayRef> {
    v.to_array(rows.max(1))
}

/// Byte length of each string or binary value (0 for NULL).
fn byte_lens(v: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    let a = as_array(v, rows)?;
    if !matches!(
        a.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Binary | DataType::LargeBinary | DataType::BinaryView
    ) {
        let size = (a.get_array_memory_size() / a.len().max(1)) as u64;
        return Ok(vec![size; a.len()]);
    }
    let l = cast(&length(&a)?, &DataType::Int64)?;
    let l = l.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
    Ok(l.iter().map(|x| x.unwrap_or(0).max(0) as u64).collect())
}

/// Integer arguments (counts, positions), NULL as 0.
fn ints(v: &ColumnarValue, rows: usize) -> Result<Vec<i64>> {
    let a = cast(&as_array(v, rows)?, &DataType::Int64)?;
    let a = a.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
    Ok(a.iter().map(|x| x.unwrap_or(0)).collect())
}

/// Nanoseconds of a range's bound, for dates and timestamps.
fn instants(v: &ColumnarValue, rows: usize) -> Result<Vec<i64>> {
    let a = cast(&as_array(v, rows)?, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
    let a = cast(&a, &DataType::Int64)?;
    let a = a.as_any().downcast_ref::<Int64Array>().expect("cast to Int64");
    Ok(a.iter().map(|x| x.unwrap_or(0)).collect())
}

/// The shortest a step can be, in nanoseconds (a month as 28 days).
fn step_nanos(v: &ColumnarValue, rows: usize) -> Result<Vec<i64>> {
    let a = cast(&as_array(v, rows)?, &DataType::Interval(vru_queries::datafusion::arrow::datatypes::IntervalUnit::MonthDayNano))?;
    let a = a.as_any().downcast_ref::<vru_queries::datafusion::arrow::array::PrimitiveArray<IntervalMonthDayNanoType>>().expect("cast");
    Ok(a.iter()
        .map(|x| {
            x.map(|i| (i.months as i64 * 28 + i.days as i64).saturating_mul(86_400_000_000_000).saturating_add(i.nanoseconds)).unwrap_or(0)
        })
        .collect())
}

fn per_row<F: Fn(usize) -> u64>(rows: usize, f: F) -> u64 {
    (0..rows.max(1)).fold(0u64, |acc, i| acc.saturating_add(f(i)))
}

fn arg_bytes(v: &ColumnarValue, rows: usize) -> u64 {
    match v {
        ColumnarValue::Array(a) => a.get_array_memory_size() as u64,
        ColumnarValue::Scalar(s) => (s.size() as u64).saturating_mul(rows.max(1) as u64),
    }
}

/// An upper bound on the bytes of a function's result.
fn result_bytes(bound: Bound, args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let n = rows.max(1);
    let at = |i: usize, v: &[u64]| v.get(i).or(v.last()).copied().unwrap_or(0);
    let ati = |i: usize, v: &[i64]| v.get(i).or(v.last()).copied().unwrap_or(0);
    Ok(match bound {
        Bound::Repeat if args.len() >= 2 => {
            let (s, k) = (byte_lens(&args[0], rows)?, ints(&args[1], rows)?);
            per_row(n, |i| at(i, &s).saturating_mul(ati(i, &k).max(0) as u64))
        }
        Bound::Pad if args.len() >= 2 => {
            let k = ints(&args[1], rows)?;
            per_row(n, |i| (ati(i, &k).max(0) as u64).saturating_mul(4))
        }
        Bound::Replace if args.len() >= 3 => {
            let (s, from, to) = (byte_lens(&args[0], rows)?, byte_lens(&args[1], rows)?, byte_lens(&args[2], rows)?);
            per_row(n, |i| {
                let places = if at(i, &from) == 0 { at(i, &s) + 1 } else { at(i, &s) / at(i, &from) };
                at(i, &s).saturating_add(places.saturating_mul(at(i, &to)))
            })
        }
        Bound::RegexpReplace if args.len() >= 3 => {
            let (s, repl) = (byte_lens(&args[0], rows)?, byte_lens(&args[2], rows)?);
            let refs = match &args[2] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(r)) | ScalarValue::LargeUtf8(Some(r)) | ScalarValue::Utf8View(Some(r))) => {
                    r.matches(['$', '\\']).count() as u64
                }
                _ => u64::MAX / 4,
            };
            per_row(n, |i| {
                let each = at(i, &repl).saturating_add(refs.saturating_mul(at(i, &s)));
                (at(i, &s) + 1).saturating_mul(each).saturating_add(at(i, &s))
            })
        }
        Bound::Sum => args.iter().fold(0u64, |acc, a| acc.saturating_add(arg_bytes(a, rows))),
        Bound::SumWithSeparator if !args.is_empty() => {
            let sep = arg_bytes(&args[0], rows);
            args[1..].iter().fold(0u64, |acc, a| acc.saturating_add(arg_bytes(a, rows)).saturating_add(sep))
        }
        Bound::ArrayRepeat if args.len() >= 2 => {
            let (x, k) = (byte_lens(&args[0], rows)?, ints(&args[1], rows)?);
            per_row(n, |i| at(i, &x).max(8).saturating_mul(ati(i, &k).max(0) as u64))
        }
        Bound::ArrayResize if args.len() >= 2 => {
            let k = ints(&args[1], rows)?;
            per_row(n, |i| (ati(i, &k).max(0) as u64).saturating_mul(16))
        }
        Bound::Range if !args.is_empty() => {
            let dated = matches!(args[0].data_type(), DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _));
            let (start, stop) = match args.len() {
                1 => (vec![0], ints(&args[0], rows)?),
                _ if dated => (instants(&args[0], rows)?, instants(&args[1], rows)?),
                _ => (ints(&args[0], rows)?, ints(&args[1], rows)?),
            };
            let step = match args.get(2) {
                Some(s) if dated => step_nanos(s, rows)?,
                Some(s) => ints(s, rows)?,
                None if dated => vec![86_400_000_000_000],
                None => vec![1],
            };
            per_row(n, |i| {
                let span = ati(i, &stop).abs_diff(ati(i, &start));
                let step = ati(i, &step).unsigned_abs().max(1);
                (span / step + 1).saturating_mul(8)
            })
        }
        Bound::Split if !args.is_empty() => {
            let s = byte_lens(&args[0], rows)?;
            per_row(n, |i| (at(i, &s) + 1).saturating_mul(16))
        }
        _ => 0,
    })
}

/// A function whose result is sized and checked before it is built.
#[derive(Debug)]
struct Capped {
    inner: Arc<ScalarUDF>,
    bound: Bound,
    pool: Arc<dyn MemoryPool>,
}

impl PartialEq for Capped {
    fn eq(&self, o: &Self) -> bool {
        self.inner == o.inner && self.bound == o.bound && Arc::ptr_eq(&self.pool, &o.pool)
    }
}

impl Eq for Capped {}

impl Hash for Capped {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.inner.hash(h);
        self.bound.hash(h);
    }
}

impl ScalarUDFImpl for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.inner().return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let bytes = result_bytes(self.bound, &args.args, args.number_rows)?;
        would_fit(&self.pool, self.inner.name(), usize::try_from(bytes).unwrap_or(usize::MAX))?;
        self.inner.invoke_with_args(args)
    }
}

/// Identity on its argument, whose memory it reserves in the query's pool
/// for as long as the value lives.
#[derive(Debug)]
struct Reserve {
    signature: Signature,
    pool: Arc<dyn MemoryPool>,
}

pub const RESERVE: &str = "vru_reserve";

impl PartialEq for Reserve {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.pool, &o.pool)
    }
}

impl Eq for Reserve {}

impl Hash for Reserve {
    fn hash<H: Hasher>(&self, h: &mut H) {
        RESERVE.hash(h);
    }
}

impl ScalarUDFImpl for Reserve {
    fn name(&self) -> &str {
        RESERVE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        Ok(args.arg_fields[0].clone())
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.swap_remove(0) {
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(account(a, &self.pool, "expression result")?)),
            ColumnarValue::Scalar(s) => {
                would_fit(&self.pool, "expression result", s.size())?;
                Ok(ColumnarValue::Scalar(s))
            }
        }
    }
}

/// Conjuncts of one filter pushed into a table scan at most; beyond,
/// the scan's per-conjunct work grows with the square of their number
/// (500 `<>` conditions took 10 s over a 60,000-row lake table), so the
/// filter is evaluated above the scan instead, in linear time.
pub const MAX_PUSHED_CONJUNCTS: usize = 32;
/// Expression nodes of one filter pushed into a table scan at most (a
/// 40,000-value `NOT IN` took 3-5 s in the scan's pruning).
pub const MAX_PUSHED_TERMS: usize = 1024;

fn terms(e: &Expr) -> usize {
    let mut n = 0;
    let _ = e.apply(|_| {
        n += 1;
        Ok(if n > MAX_PUSHED_TERMS { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    n
}

/// Identity on a predicate, volatile so the optimiser keeps it where it is
/// and does not push it into the table scan.
#[derive(Debug, PartialEq, Eq, Hash)]
struct Barrier {
    signature: Signature,
}

pub const BARRIER: &str = "vru_unpushed";

impl ScalarUDFImpl for Barrier {
    fn name(&self) -> &str {
        BARRIER
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        Ok(args.args.swap_remove(0))
    }
}

/// A refusal made while guarding a plan, explained to the client as
/// "not supported" (0A000).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// Rewrites `plan` as the module documentation describes, bound to `pool`.
pub fn guard_plan(plan: LogicalPlan, pool: &Arc<dyn MemoryPool>) -> Result<LogicalPlan> {
    let reserve = Arc::new(ScalarUDF::new_from_impl(Reserve { signature: Signature::any(1, Volatility::Immutable), pool: pool.clone() }));
    let wrap = |e: Expr| Expr::ScalarFunction(ScalarFunction::new_udf(reserve.clone(), vec![e]));
    let guard_expr = |e: Expr| -> Result<Transformed<Expr>> {
        e.transform_up(|e| match e {
            Expr::ScalarFunction(f) if f.func.name() == RESERVE => Ok(Transformed::no(Expr::ScalarFunction(f))),
            Expr::ScalarFunction(ScalarFunction { func, args }) => {
                let func = match bound_of(func.name()) {
                    Some(bound) => Arc::new(ScalarUDF::new_from_impl(Capped { inner: func, bound, pool: pool.clone() })),
                    None => func,
                };
                Ok(Transformed::yes(wrap(Expr::ScalarFunction(ScalarFunction { func, args }))))
            }
            Expr::BinaryExpr(b @ BinaryExpr { op: Operator::StringConcat, .. }) => Ok(Transformed::yes(wrap(Expr::BinaryExpr(b)))),
            Expr::WindowFunction(w) => {
                if let WindowFunctionDefinition::AggregateUDF(f) = &w.fun
                    && matches!(f.name(), "array_agg" | "string_agg" | "listagg")
                {
                    return Err(DataFusionError::External(Box::new(Unsupported(format!(
                        "{} as a window function: its results grow with the square of the window frame; aggregate with GROUP BY instead",
                        f.name()
                    )))));
                }
                Ok(Transformed::no(Expr::WindowFunction(w)))
            }
            other => Ok(Transformed::no(other)),
        })
    };
    let barrier = Arc::new(ScalarUDF::new_from_impl(Barrier { signature: Signature::any(1, Volatility::Volatile) }));
    let unpushed = |e: Expr| -> Expr {
        if split_conjunction(&e).len() > MAX_PUSHED_CONJUNCTS || terms(&e) > MAX_PUSHED_TERMS {
            Expr::ScalarFunction(ScalarFunction::new_udf(barrier.clone(), vec![e]))
        } else {
            e
        }
    };
    plan.transform_up_with_subqueries(|node| {
        let node = match node {
            LogicalPlan::Filter(mut f) => {
                f.predicate = unpushed(f.predicate);
                LogicalPlan::Filter(f)
            }
            LogicalPlan::Join(mut j) => {
                j.filter = j.filter.map(unpushed);
                LogicalPlan::Join(j)
            }
            other => other,
        };
        let preserver = NamePreserver::new(&node);
        node.map_expressions(|e| {
            let saved = preserver.save(&e);
            let t = guard_expr(e)?;
            Ok(if t.transformed { Transformed::yes(saved.restore(t.data)) } else { t })
        })
    })
    .map(|t| t.data)
}

/// Reserves what window operators buffer and what row-multiplying
/// operators produce; see the module documentation.
pub fn guard_physical(plan: Arc<dyn ExecutionPlan>, pool: &Arc<dyn MemoryPool>) -> Result<Arc<dyn ExecutionPlan>> {
    let keep = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep);
    plan.transform_up(|node| {
        let name = node.name().to_string();
        let name = name.as_str();
        if matches!(name, "WindowAggExec" | "BoundedWindowAggExec") {
            // A HoldExec has its child's properties.
            let children =
                node.children().into_iter().map(|c| Arc::new(HoldExec::new(c.clone(), pool.clone())) as Arc<dyn ExecutionPlan>).collect();
            return Ok(Transformed::yes(node.replace_children(children, keep)?));
        }
        let mut node = node;
        if name == "NestedLoopJoinExec" {
            // The probe side (right) in small batches, with a yield after
            // each; see `crate::cooperate`.
            let mut children: Vec<Arc<dyn ExecutionPlan>> = node.children().into_iter().cloned().collect();
            if let Some(probe) = children.get_mut(1) {
                *probe = Arc::new(YieldExec::new(probe.clone(), PROBE_ROWS));
            }
            node = node.replace_children(children, keep)?;
        }
        if name == "UnnestExec" {
            // Its output sized before it is built; see `crate::fanout`.
            let children = node
                .children()
                .into_iter()
                .map(|c| Arc::new(FanoutCheckExec::new(c.clone(), pool.clone())) as Arc<dyn ExecutionPlan>)
                .collect();
            node = node.replace_children(children, keep)?;
        }
        if name == "CrossJoinExec" {
            // One output batch per build-side row, all inside one poll: a
            // yield after each lets the time limit end it.
            node = Arc::new(YieldExec::new(node, CROSS_OUTPUT_ROWS));
        }
        if matches!(name, "UnnestExec" | "NestedLoopJoinExec" | "CrossJoinExec") {
            return Ok(Transformed::yes(Arc::new(AccountExec::new(node, pool.clone())) as Arc<dyn ExecutionPlan>));
        }
        Ok(Transformed::no(node))
    })
    .map(|t| t.data)
}

#[cfg(test)]
mod tests;
