use std::io::IsTerminal;

use clap::Parser;
use corral::config::{Cli, Cmd, Config, NoteKind};
use corral::server::Server;
use tracing::{debug, error, info, warn};
use tracing_subscriber::EnvFilter;

/// What an operator needs at start-up is addresses, leadership and what was
/// recovered; openraft and fjall narrate their internals at INFO, so they
/// start at WARN. RUST_LOG replaces the whole filter.
const DEFAULT_LOG_FILTER: &str = "info,openraft=warn,fjall=warn,lsm_tree=warn";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let Cmd::Serve(args) = cli.command;
    let (config, notes) = match Config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "bad configuration");
            return std::process::ExitCode::from(2);
        }
    };
    for n in notes {
        match n.kind {
            NoteKind::Unknown => warn!(at = %n.at, key = %n.key, "unknown config key ignored"),
            NoteKind::Ignored(why) => {
                warn!(at = %n.at, key = %n.key, why, "config key has no effect")
            }
            NoteKind::Harmless(why) => {
                debug!(at = %n.at, key = %n.key, why, "config key accepted")
            }
        }
    }
    // Absolute, so the operator knows where a relative --data-dir landed.
    let data_dir =
        std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
    info!(
        version = %env!("CARGO_PKG_VERSION"),
        data_dir = %data_dir.display(),
        "starting"
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!(error = %e, "cannot start the runtime");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match Server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot start");
                return std::process::ExitCode::FAILURE;
            }
        };
        let failure = tokio::select! {
            signal = wait_for_signal() => Err(signal),
            why = server.failed() => Ok(why),
        };
        match failure {
            Err(signal) => {
                info!(%signal, "shutting down");
                server.shutdown().await;
                std::process::ExitCode::SUCCESS
            }
            Ok(why) => {
                error!(reason = %why, "consensus stopped; this server stops too");
                server.shutdown().await;
                std::process::ExitCode::FAILURE
            }
        }
    })
}

fn init_logging() {
    let (filter, bad_rust_log) = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => match EnvFilter::try_new(&spec) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new(DEFAULT_LOG_FILTER), Some((spec, e))),
        },
        _ => (EnvFilter::new(DEFAULT_LOG_FILTER), None),
    };
    // Colour codes are noise in a file or a journal: only for a terminal,
    // and never when NO_COLOR is set (no-color.org).
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && !no_color)
        .init();
    if let Some((spec, e)) = bad_rust_log {
        warn!(rust_log = %spec, error = %e, default = DEFAULT_LOG_FILTER, "RUST_LOG not understood; using the default");
    }
}

/// Waits for SIGINT or SIGTERM and names it.
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
