//! One module per group of commands; each function reads its arguments,
//! calls the libraries and prints.

pub mod data;
pub mod demo;
pub mod disclosure;
pub mod query;
pub mod report;
pub mod retention;
pub mod serve;
pub mod stream;

use crate::config::Config;
use anyhow::Context as _;
use vru_model::classification::{Catalogue, Definition};
use vru_queries::datafusion::arrow::array::Array as _;
use vru_queries::{LakeSource, SessionOptions};

/// The definition named in configuration: a built-in name or a file path.
pub fn definition(config: &Config) -> anyhow::Result<Definition> {
    let name = &config.measures.definition;
    if std::path::Path::new(name).is_file() {
        let text = std::fs::read_to_string(name).with_context(|| format!("reading definition file {name}"))?;
        return Ok(Definition::from_toml(&text, &Catalogue::builtin())?);
    }
    Ok(Definition::builtin(name)?)
}

pub async fn session_options(config: &Config) -> anyhow::Result<SessionOptions> {
    let mut focus = config.measures.focus_area.clone();
    if focus.is_empty() {
        focus = all_local_authorities(config).await?;
    }
    let mut o = SessionOptions::new(LakeSource::Delta { lake: config.lake()?, versions: Default::default() }, definition(config)?, focus);
    o.focus_name = config.measures.focus_name.clone();
    o.cohort_years = config.measures.cohort_years;
    let memory =
        vru_server::limits::parse_size(&config.measures.memory_limit).map_err(|e| anyhow::anyhow!("measures.memory_limit: {e}"))?;
    o.scratch = config.measures.scratch_dir.clone().map(|dir| vru_queries::Scratch { dir, memory });
    Ok(o)
}

/// With no focus area configured, every local authority in the lookup is in it.
async fn all_local_authorities(config: &Config) -> anyhow::Result<Vec<String>> {
    let lake = config.lake()?;
    if !lake.exists("lsoa_lookup").await {
        return Ok(Vec::new());
    }
    let mut o = SessionOptions::new(LakeSource::Delta { lake, versions: Default::default() }, Definition::builtin("local")?, vec![]);
    o.target_partitions = 1;
    let s = vru_queries::build_session(&o).await?;
    let batches = s.ctx.sql("SELECT DISTINCT CAST(la_code AS VARCHAR) FROM lsoa_lookup ORDER BY 1").await?.collect().await?;
    let mut out = Vec::new();
    for b in batches {
        // VARCHAR may be planned as a string view: read it through a cast.
        let col = vru_queries::datafusion::arrow::compute::cast(b.column(0), &vru_queries::datafusion::arrow::datatypes::DataType::Utf8)?;
        let col = col.as_any().downcast_ref::<vru_queries::datafusion::arrow::array::StringArray>().context("la_code column")?;
        out.extend((0..col.len()).map(|i| col.value(i).to_string()));
    }
    Ok(out)
}

/// The one shutdown future of the long-running commands (`serve`, `run`,
/// `ingest --watch`, `normalise`): Ctrl-C, or SIGTERM from systemd or
/// Kubernetes. Each command passes it to its loop, which finishes what it
/// holds (a file, a batch, the open queries) and returns.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            // No SIGTERM handler: Ctrl-C still stops cleanly.
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
