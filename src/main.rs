use clap::Parser;
use corral::config::{Cli, Cmd, Config};
use corral::server::Server;
use tracing::{error, info, warn};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let Cmd::Serve(args) = cli.command;
    let (config, warnings) = match Config::load(&args) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    for w in warnings {
        warn!("{w}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let server = match Server::start(config).await {
            Ok(s) => s,
            Err(e) => {
                error!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let failure = tokio::select! {
            _ = wait_for_signal() => None,
            why = server.failed() => Some(why),
        };
        match failure {
            None => {
                info!("shutting down");
                server.shutdown().await;
                std::process::ExitCode::SUCCESS
            }
            Some(why) => {
                error!(reason = %why, "consensus stopped; this server stops too");
                server.shutdown().await;
                std::process::ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
