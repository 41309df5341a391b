//! Commands that make or prepare data: `generate`, `pseudonymise`, `reference`.

use crate::config::Config;
use anyhow::{Context as _, bail};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use vru_ingest::reference::{self, PopulationFormat};
use vru_model::pseudonym::{self, Pseudonymiser};
use vru_model::tables::Reference;
use vru_synth::CityConfig;

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output directory (landing/, reference/, keys/, truth.json).
    #[arg(long)]
    pub out: PathBuf,
    /// LSOAs in the focus local authority (about 1,600 residents each).
    #[arg(long, default_value_t = 120)]
    pub focus_lsoas: usize,
    /// Other local authorities in the region.
    #[arg(long, default_value_t = 4)]
    pub other_las: usize,
    #[arg(long, default_value_t = 60)]
    pub lsoas_per_other_la: usize,
    /// First financial year, by its starting year.
    #[arg(long, default_value_t = 2019)]
    pub first_fy: i32,
    #[arg(long, default_value_t = 5)]
    pub years: i32,
    /// Multiplies event volumes.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
}

impl GenerateArgs {
    pub fn city(&self) -> CityConfig {
        CityConfig {
            seed: self.seed,
            focus_lsoas: self.focus_lsoas,
            other_las: self.other_las,
            lsoas_per_other_la: self.lsoas_per_other_la,
            first_fy: self.first_fy,
            years: self.years,
            scale: self.scale,
        }
    }
}

pub fn generate(a: GenerateArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let s = vru_synth::generate(&a.city(), &a.out)?;
    println!("{}", serde_json::to_string_pretty(&s)?);
    eprintln!("generated {} rows in {} files in {:.1}s", s.rows, s.files, started.elapsed().as_secs_f64());
    Ok(())
}

#[derive(Args)]
pub struct PseudonymiseArgs {
    /// File holding the shared secret key (hex). Never send it with the data.
    #[arg(long, required_unless_present = "new_key")]
    pub key_file: Option<PathBuf>,
    /// A column holding raw identifiers (repeat for several).
    #[arg(long = "id-column")]
    pub id_columns: Vec<String>,
    /// Write a fresh random key to this file and exit.
    #[arg(long, conflicts_with_all = ["key_file", "input"])]
    pub new_key: Option<PathBuf>,
    /// The CSV to pseudonymise; the result goes to standard output.
    pub input: Option<PathBuf>,
}

pub fn pseudonymise(a: PseudonymiseArgs) -> anyhow::Result<()> {
    if let Some(path) = a.new_key {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        write_private(&path, &format!("{}\n", pseudonym::key_text(&bytes)))?;
        eprintln!("wrote a new 256-bit key to {}; share it only with partners, never with the VRU lake", path.display());
        return Ok(());
    }
    let key_path = a.key_file.context("--key-file is required")?;
    let input = a.input.context("give the CSV file to pseudonymise")?;
    if a.id_columns.is_empty() {
        bail!("name at least one --id-column to pseudonymise");
    }
    let key = std::fs::read_to_string(&key_path).with_context(|| format!("reading key file {}", key_path.display()))?;
    let p = Pseudonymiser::from_key_text(&key)?;
    let name = input.display().to_string();
    let file = std::fs::File::open(&input).with_context(|| format!("opening {name}"))?;
    let rows =
        vru_ingest::pseudonymise::pseudonymise_csv(&p, &name, std::io::BufReader::new(file), std::io::stdout().lock(), &a.id_columns)?;
    eprintln!("pseudonymised {} column(s) in {rows} rows", a.id_columns.len());
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("creating {} (it must not exist yet)", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

#[derive(Args)]
pub struct ReferenceArgs {
    /// LSOA to ward to local authority lookup (lsoa_code, la_code, ...).
    #[arg(long)]
    pub lsoa_lookup: Option<PathBuf>,
    /// Population by LSOA, year and age (long), or ONS wide with --population-year.
    #[arg(long)]
    pub population: Option<PathBuf>,
    /// The mid-year of an ONS wide-format population file (one column per age).
    #[arg(long)]
    pub population_year: Option<i32>,
    /// IMD 2019 by LSOA (lsoa_code, imd_rank, imd_decile).
    #[arg(long)]
    pub imd: Option<PathBuf>,
}

pub async fn reference(config: &Config, a: ReferenceArgs) -> anyhow::Result<()> {
    let lake = config.lake()?;
    let format = a.population_year.map_or(PopulationFormat::Long, |year| PopulationFormat::OnsWide { year });
    let mut any = false;
    for (r, path) in [(Reference::LsoaLookup, a.lsoa_lookup), (Reference::Population, a.population), (Reference::Imd, a.imd)] {
        let Some(path) = path else { continue };
        any = true;
        let report = reference::load(&lake, r, &path, format).await?;
        println!(
            "{}: {} rows loaded, {} skipped{}",
            report.table,
            report.rows,
            report.skipped,
            report.version.map_or(String::new(), |v| format!(" (lake table version {v})"))
        );
        for e in &report.skipped_examples {
            println!("  skipped {}:{e}", path.display());
        }
    }
    if !any {
        bail!("give at least one of --lsoa-lookup, --population, --imd");
    }
    Ok(())
}
