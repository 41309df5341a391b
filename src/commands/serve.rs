//! Commands of the SQL service: `serve`, `user add|list|remove`.

use crate::config::Config;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use vru_server::config::ServicePaths;
use vru_server::users::UsersFile;
use vru_server::{Role, Server, limits};

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on (default from configuration: 127.0.0.1:5433).
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Users file (default <data_dir>/server/users.toml).
    #[arg(long)]
    pub users: Option<PathBuf>,
    /// TLS certificate chain, PEM (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key, PEM.
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Listen on a non-loopback address without TLS (passwords stay safe
    /// under SCRAM; results cross the network in clear).
    #[arg(long)]
    pub allow_insecure_remote: bool,
    /// Memory one query may use, e.g. 512MiB, 2GiB (default 1GiB).
    #[arg(long)]
    pub memory_limit: Option<String>,
    /// Memory all queries together may use (default 2GiB).
    #[arg(long)]
    pub total_memory_limit: Option<String>,
    /// Time one query may run, e.g. 300s, 5m (default 300s).
    #[arg(long)]
    pub query_timeout: Option<String>,
    /// Audit log, JSON lines (default <data_dir>/server/audit.jsonl).
    #[arg(long)]
    pub audit: Option<PathBuf>,
    /// Serve Prometheus `/metrics` and `/health` on this host:port (default
    /// from configuration: none).
    #[arg(long)]
    pub metrics_listen: Option<SocketAddr>,
}

pub async fn serve(config: &Config, a: ServeArgs) -> anyhow::Result<()> {
    // The flags win over the configuration's [server] section.
    let mut s = config.server.clone();
    if let Some(l) = a.listen {
        s.listen = l.to_string();
    }
    if a.tls_cert.is_some() || a.tls_key.is_some() {
        (s.tls_cert, s.tls_key) = (a.tls_cert, a.tls_key);
    }
    s.allow_insecure_remote |= a.allow_insecure_remote;
    s.memory_limit = a.memory_limit.unwrap_or(s.memory_limit);
    s.total_memory_limit = a.total_memory_limit.unwrap_or(s.total_memory_limit);
    s.query_timeout = a.query_timeout.unwrap_or(s.query_timeout);
    if let Some(m) = a.metrics_listen {
        s.metrics_listen = Some(m.to_string());
    }
    let paths = ServicePaths {
        users: a.users.unwrap_or_else(|| config.users_file()),
        audit: a.audit.unwrap_or_else(|| config.audit_file()),
        secret: config.server_secret_file(),
        protection: config.disclosure.protection(),
    };
    let opts = s.serve_options(paths)?;
    let (limits, timeout) = (opts.limits, s.query_timeout.clone());
    let mut session = super::session_options(config).await?;
    // Each generation (lake version) computes the current state and
    // `crimes` once, for the measures and for every client's queries.
    session.materialise = vru_queries::Materialise::AtBuild;
    // In memory, under the service's own limits: a generation's ctx
    // outlives the session it was built in, and scratch files go with it.
    session.scratch = None;
    let server = Server::bind(&opts, session).await?;
    let addr = server.local_addr()?;
    if !addr.ip().is_loopback() && !server.tls() {
        tracing::warn!("listening on {addr} without TLS (--allow-insecure-remote): results cross the network in clear");
    }
    println!(
        "vru serve: listening on {addr} ({}), users {}, audit log {}, memory limit {} and timeout {} per query, {} in all",
        if server.tls() { "TLS" } else { "no TLS" },
        opts.users.display(),
        opts.audit.display(),
        limits::human_size(limits.memory_bytes),
        timeout,
        limits::human_size(limits.total_memory_bytes),
    );
    if let Some(m) = server.metrics_addr() {
        println!("vru serve: metrics on http://{m}/metrics, health on http://{m}/health");
    }
    std::io::stdout().flush()?;
    server.run(super::stop_signal()).await?;
    eprintln!("vru serve: stopped");
    Ok(())
}

#[derive(Args)]
pub struct UserArgs {
    /// Users file (default <data_dir>/server/users.toml).
    #[arg(long, global = true)]
    pub users: Option<PathBuf>,
    #[command(subcommand)]
    pub command: UserCommand,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user, or replace one's role and password. The password is read
    /// from standard input (asked for twice on a terminal), never argv.
    Add {
        name: String,
        /// analyst, partner or publisher.
        #[arg(long)]
        role: String,
        /// For role partner: the organisation's landing folder name
        /// (police-northshire), whose rows the user may read.
        #[arg(long)]
        partner: Option<String>,
        /// Read the password from the first line of standard input
        /// (scripts: `printf '%s\n' "$PW" | vru user add ... --password-stdin`).
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users with their roles (no secrets).
    List,
    /// Remove a user: their next login is refused, and a running server
    /// ends their open sessions within a second.
    Remove { name: String },
}

fn read_password(name: &str, from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let ask = |prompt: &str| -> anyhow::Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let _ = std::process::Command::new("stty").arg("-echo").stdin(std::process::Stdio::inherit()).status();
        let mut line = String::new();
        let r = stdin.lock().read_line(&mut line);
        let _ = std::process::Command::new("stty").arg("echo").stdin(std::process::Stdio::inherit()).status();
        eprintln!();
        r?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    };
    let first = ask(&format!("Password for {name}: "))?;
    if ask("Again: ")? != first {
        bail!("the passwords differ");
    }
    Ok(first)
}

pub fn user(config: &Config, a: UserArgs) -> anyhow::Result<()> {
    let path = a.users.unwrap_or_else(|| config.users_file());
    let mut file = UsersFile::load(&path)?;
    match a.command {
        UserCommand::Add { name, role, partner, password_stdin } => {
            let role = Role::parse(&role).with_context(|| format!("unknown role {role:?}: analyst, partner or publisher"))?;
            if let Some(p) = &partner {
                vru_model::Source::of_partner(p).map_err(anyhow::Error::msg)?;
            }
            let password = read_password(&name, password_stdin)?;
            file.add(&name, role, partner.as_deref(), &password).map_err(anyhow::Error::msg)?;
            file.save(&path)?;
            println!("user {name} ({role}{}) saved in {}", partner.map(|p| format!(", {p}")).unwrap_or_default(), path.display());
        }
        UserCommand::List => {
            for (name, u) in &file.users {
                println!("{name}\t{}\t{}", u.role, u.partner.as_deref().unwrap_or("-"));
            }
            eprintln!("{} user(s) in {}", file.users.len(), path.display());
        }
        UserCommand::Remove { name } => {
            if !file.remove(&name) {
                bail!("no user {name} in {}", path.display());
            }
            file.save(&path)?;
            println!("user {name} removed from {}", path.display());
        }
    }
    Ok(())
}
