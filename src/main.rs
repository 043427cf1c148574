use std::io::IsTerminal;

mod cluster_cmd;

use clap::Parser;
use corral::config::{Cli, Cmd, Config, HealthArgs, NoteKind};
use corral::server::Server;
use tracing::{debug, error, info, warn};
use tracing_subscriber::EnvFilter;

/// What an operator needs at start-up is addresses, leadership and what was
/// recovered; openraft and fjall narrate their internals at INFO, so they
/// start at WARN. RUST_LOG replaces the whole filter.
const DEFAULT_LOG_FILTER: &str = "info,openraft=warn,fjall=warn,lsm_tree=warn";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Cmd::Serve(args) => *args,
        Cmd::Health(h) => return health(&h),
        Cmd::Cluster(c) => {
            return match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => std::process::ExitCode::from(rt.block_on(cluster_cmd::run(c))),
                Err(e) => {
                    eprintln!("corral cluster: cannot start the runtime: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
    };
    init_logging();
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
    // Loading may wait for peers' host names (in Docker, for their containers
    // to start), so a signal stops it at once: in a container this is PID 1,
    // which SIGTERM's default action leaves running.
    let loaded = runtime.block_on(async {
        let load = tokio::task::spawn_blocking(move || {
            if args.zoo_env {
                corral::zoo_env::load(&args, &|k| std::env::var(k).ok())
            } else {
                Config::load(&args)
            }
        });
        tokio::select! {
            loaded = load => Some(loaded),
            signal = wait_for_signal() => {
                info!(%signal, "stopped while starting");
                None
            }
        }
    });
    let (config, notes) = match loaded {
        Some(Ok(Ok(c))) => c,
        Some(Ok(Err(e))) => {
            error!(error = %e, "bad configuration");
            return std::process::ExitCode::from(2);
        }
        Some(Err(e)) => {
            error!(error = %e, "configuration not loaded");
            return std::process::ExitCode::FAILURE;
        }
        None => {
            // The loading thread may still be asleep: do not wait for it.
            runtime.shutdown_background();
            return std::process::ExitCode::SUCCESS;
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

/// `corral health`: a container health check, since the image has no shell
/// or nc. Healthy: `ruok` answered `imok`, or, where the whitelist leaves
/// ruok out (the zookeeper image's default allows only srvr), `srvr`
/// answered with the server's mode.
fn health(h: &HealthArgs) -> std::process::ExitCode {
    let timeout = std::time::Duration::from_millis(h.timeout.max(1));
    let answer = match four_letter(h.addr, "ruok", timeout) {
        Ok(a) if a.contains("not in the whitelist") => four_letter(h.addr, "srvr", timeout),
        other => other,
    };
    match answer {
        Ok(a) if a == "imok" || a.lines().any(|l| l.starts_with("Mode: ")) => {
            println!(
                "{}",
                a.lines().find(|l| l.starts_with("Mode: ")).unwrap_or(&a)
            );
            std::process::ExitCode::SUCCESS
        }
        Ok(a) => {
            eprintln!("{}: unexpected answer {a:?}", h.addr);
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{}: {e}", h.addr);
            std::process::ExitCode::FAILURE
        }
    }
}

/// Sends a four-letter word and reads the answer until the server closes.
fn four_letter(
    addr: std::net::SocketAddr,
    word: &str,
    timeout: std::time::Duration,
) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(word.as_bytes())?;
    let mut answer = Vec::new();
    // srvr's answer is a few hundred bytes; more means something else answers.
    s.take(4096).read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).trim().to_string())
}
