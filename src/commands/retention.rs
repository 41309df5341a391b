//! `vru retention plan` and `vru retention apply`: what is due, and
//! erasing it. Counts only on screen and in JSON, never an id.

use crate::config::Config;
use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use clap::{Args, Subcommand};
use std::time::Duration;
use vru_ingest::kafka::DAY_MS;
use vru_ingest::retention::apply::{self, Options, Outcome, Status};
use vru_model::retention::{Policy, Tally};

#[derive(Args)]
pub struct RetentionArgs {
    #[command(subcommand)]
    pub command: RetentionCommand,
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// What is overdue now and what falls due in the next 30 and 90 days,
    /// per table and partner (counts only). Changes nothing.
    Plan {
        /// The day to plan for (default: today).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Erase what is due and what partners withdrew, in two stages
    /// (non-searchable at once, then physically deleted). A dry run unless
    /// --apply.
    Apply {
        /// Act (without it: say what would happen, change nothing).
        #[arg(long)]
        apply: bool,
        /// Allow erasing more than retention.max_share of a table, or an
        /// --as-of after today.
        #[arg(long)]
        confirm: bool,
        /// The day to apply the policy for (default: today).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Do not wait for the vacuum grace period: files replaced now are
        /// vacuumed by the next run.
        #[arg(long)]
        no_wait: bool,
        #[arg(long)]
        json: bool,
    },
}

/// The policy named in configuration (`--retention NAME|FILE`).
pub fn policy(config: &Config) -> anyhow::Result<Policy> {
    let name = &config.retention.policy;
    let p = std::path::Path::new(name);
    let policy = if p.is_file() {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading retention policy {name}"))?;
        Policy::from_toml(&text, name)?
    } else {
        Policy::builtin(name)?
    };
    Ok(policy)
}

/// Kafka must not keep a message longer than the policy allows; checked
/// before a run and at every start of ingest and the normaliser.
pub fn check_kafka(config: &Config) -> anyhow::Result<()> {
    let p = policy(config)?;
    let max = p.kafka_max_days() as i64 * DAY_MS;
    let dlq = p.files.dead_letters.max_days().unwrap_or(u64::MAX) as i64 * DAY_MS;
    let k = &config.kafka;
    if k.retention_ms <= 0 || k.retention_ms > max {
        bail!(
            "kafka.retention_ms is {} ms but retention policy {} allows at most {} days (kafka_max): no message may outlive it; lower kafka.retention_ms",
            k.retention_ms,
            p.name,
            p.kafka_max_days()
        );
    }
    if k.dlq_retention_ms <= 0 || k.dlq_retention_ms > dlq.min(max) {
        bail!(
            "kafka.dlq_retention_ms is {} ms but retention policy {} keeps dead letters {}",
            k.dlq_retention_ms,
            p.name,
            p.files.dead_letters
        );
    }
    Ok(())
}

fn options(config: &Config, as_of: Option<NaiveDate>, apply: bool, confirm: bool, wait: bool) -> Options {
    let now = chrono::Utc::now();
    Options {
        as_of: as_of.unwrap_or_else(|| now.date_naive()),
        apply,
        confirm,
        max_share: config.retention.max_share,
        vacuum_grace: Duration::from_secs(config.retention.vacuum_grace_secs),
        wait_for_vacuum: wait && config.retention.wait_for_vacuum,
        landing: Some(config.landing_dir()),
        limits: config.extract.limits.clone(),
        now,
        halt_at: None,
    }
}

pub async fn run(config: &Config, a: RetentionArgs) -> anyhow::Result<()> {
    let policy = policy(config)?;
    check_kafka(config)?;
    let lake = config.lake()?;
    match a.command {
        RetentionCommand::Plan { as_of, json } => {
            let o = apply::run(&lake, &policy, &options(config, as_of, false, false, false)).await?;
            print(&o, &policy, json)?;
        }
        RetentionCommand::Apply { apply, confirm, as_of, no_wait, json } => {
            let started = std::time::Instant::now();
            let o = apply::run(&lake, &policy, &options(config, as_of, apply, confirm, !no_wait)).await?;
            print(&o, &policy, json)?;
            if apply && !config.kafka.is_embedded() && o.status == Status::Applied {
                let days = policy.files.dead_letters.max_days().unwrap_or(0) as i64;
                let n = vru_ingest::kafka::purge_dead_letters(&config.kafka, chrono::Utc::now() - chrono::Duration::days(days)).await?;
                eprintln!("dead letters older than {}: {n} purged", policy.files.dead_letters);
            }
            if !json {
                eprintln!("{} in {:.1}s", if apply { "applied" } else { "dry run" }, started.elapsed().as_secs_f64());
            }
            if o.status == Status::Refused {
                bail!(
                    "refused: the run would erase more than {:.0}% of {}; nothing was erased and the deficit is recorded. Check the plan, then rerun with --confirm",
                    config.retention.max_share * 100.0,
                    o.over_share.iter().map(|s| format!("{} ({} of {})", s.table, s.erased, s.records)).collect::<Vec<_>>().join(", ")
                );
            }
        }
    }
    Ok(())
}

fn print(o: &Outcome, policy: &Policy, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(o)?);
        return Ok(());
    }
    let what = match o.status {
        Status::DryRun => "plan (nothing changed)",
        Status::Applied => "applied",
        Status::Refused => "REFUSED (nothing erased)",
    };
    println!(
        "Retention as of {}: {what}; policy {} {} (sha256 {}); run {}",
        o.header.as_of,
        policy.name,
        policy.version,
        &policy.sha256[..12],
        o.header.id
    );
    if let Some(r) = o.resumed {
        println!("completed interrupted run {r} first");
    }
    let applied = o.status == Status::Applied;
    println!(
        "\n{:<18} {:<28} {:>9} {:>8} {:>8} {:>8} {:>9} {:>6} {:>8} {:>8} {:>7} {:>7}",
        "table",
        "partner",
        "records",
        if applied { "deleted" } else { "overdue" },
        "of late",
        "max late",
        "withdrawn",
        "held",
        "deficit",
        "extended",
        "due 30d",
        "due 90d"
    );
    let mut total = Tally::default();
    for r in &o.rows {
        let t = &r.tally;
        total.add(t);
        println!(
            "{:<18} {:<28} {:>9} {:>8} {:>8} {:>8} {:>9} {:>6} {:>8} {:>8} {:>7} {:>7}",
            r.table,
            r.partner,
            t.records,
            t.deleted_on_time + t.deleted_late,
            t.deleted_late,
            t.days_late_max,
            t.withdrawn,
            t.held,
            t.held_past_date,
            t.extended,
            t.due_30,
            t.due_90
        );
    }
    println!(
        "{:<18} {:<28} {:>9} {:>8} {:>8} {:>8} {:>9} {:>6} {:>8} {:>8} {:>7} {:>7}",
        "all",
        "",
        total.records,
        total.deleted_on_time + total.deleted_late,
        total.deleted_late,
        total.days_late_max,
        total.withdrawn,
        total.held,
        total.held_past_date,
        total.extended,
        total.due_30,
        total.due_90
    );
    println!("event versions erased{}: {}", if applied { "" } else { " (would be)" }, total.events_erased);
    for s in &o.over_share {
        if applied {
            println!("over the share limit, erased with --confirm: {} lost {} of {} records", s.table, s.erased, s.records);
        } else {
            println!("over the share limit: {} would lose {} of {} records (needs --confirm)", s.table, s.erased, s.records);
        }
    }
    for w in &o.withdrawals {
        println!(
            "withdrawal {}/{}: {} listed, {} records found ({} under a hold), {} events {}, {} not found",
            w.partner,
            w.file,
            w.record_ids_listed + w.extracts_listed,
            w.records_found,
            w.records_under_hold,
            w.events_erased,
            if applied { "erased" } else { "to erase" },
            w.not_found
        );
    }
    for w in &o.refused_withdrawals {
        println!("withdrawal {}/{} refused: {}", w.partner, w.file, w.issues.first().map_or("", |i| i.reason.as_str()));
    }
    for (t, n) in &o.pending {
        println!("{t}: {n} events hidden by an interrupted run, deleted by the next apply");
    }
    let f = &o.files;
    println!(
        "landing files past their date{}: processed {}, rejected {}, quarantine {}, receipts {}, holding erased records {}",
        if applied { " removed" } else { "" },
        f.processed,
        f.rejected,
        f.quarantine,
        f.receipts,
        f.erased_extracts
    );
    for (t, p) in &o.physical {
        println!("{t}: {} rows deleted, {} files rewritten, {} conflicts retried", p.rows_deleted, p.files_rewritten, p.conflicts_retried);
    }
    for (t, n) in &o.vacuumed_files {
        println!("{t}: {n} replaced files vacuumed");
    }
    if applied {
        println!(
            "deletion markers removed (applied, and past Kafka's {} days): {}; log files removed after checkpoints: {}",
            policy.kafka_max_days(),
            o.markers_pruned,
            o.log_files_removed
        );
    }
    Ok(())
}
