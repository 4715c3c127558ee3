//! The `volley` command.

use volley::cli::{Cli, Command, IndexCommand, RegistryCommand, RunArgs};
use volley::engine::control;
use volley::registry::{commands, RegistryError};
use volley::{app, interrupt, script_build, shard, target::montecarlo};

fn main() {
    let cli = Cli::try_parse_k6().unwrap_or_else(|e| {
        use clap::error::ErrorKind;
        // A value that does not parse is an invalid configuration (k6's exit code 104).
        let invalid = matches!(
            e.kind(),
            ErrorKind::ValueValidation | ErrorKind::InvalidValue
        );
        let _ = e.print();
        std::process::exit(match e.exit_code() {
            0 => 0,
            _ if invalid => app::exit::INVALID_CONFIG,
            code => code,
        })
    });
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Run(RunArgs {
        shard_child: Some(id),
        ..
    }) = &cli.command
    {
        builder.worker_threads(id.worker_threads());
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(dispatch(cli));
    std::process::exit(code);
}

async fn dispatch(cli: Cli) -> i32 {
    let result: anyhow::Result<i32> = match cli.command {
        Command::Run(args) => match (args.k6.configure_logging(), args.shard_child) {
            (Err(e), _) => {
                eprintln!("error: {e}");
                Ok(app::exit::INVALID_CONFIG)
            }
            (Ok(()), Some(id)) => Ok(shard::child::run(&args, id, interrupt::stop_flag()).await),
            (Ok(()), None) => app::run(&args, interrupt::stop_flag())
                .await
                .or_else(app_error),
        },
        Command::Inspect(args) => match app::inspect(&args).await {
            Ok(json) => {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json).unwrap_or_default()
                );
                Ok(0)
            }
            Err(e) => app_error(e),
        },
        Command::Scale {
            vus,
            scenario,
            address,
        } => {
            let body = serde_json::json!({ "vus": vus, "scenario": scenario });
            let reply = control::request(address, hyper::Method::PATCH, Some(body)).await;
            Ok(printed(reply.map(|text| vec![text])))
        }
        Command::Resume { address } => {
            let body = serde_json::json!({ "paused": false });
            let reply = control::request(address, hyper::Method::PATCH, Some(body)).await;
            Ok(printed(reply.map(|text| vec![text])))
        }
        Command::Status { address } => {
            let reply = control::request(address, hyper::Method::GET, None).await;
            Ok(printed(reply.map(|text| vec![text])))
        }
        Command::Merge {
            files,
            summary_export,
            summary_trend_stats,
            no_summary,
        } => app::merge(
            &files,
            summary_export.as_deref(),
            (!summary_trend_stats.is_empty()).then_some(summary_trend_stats),
            !no_summary,
        )
        .or_else(app_error),
        Command::Registry { command } => Ok(printed(registry_command(command).await)),
        Command::Build { script, output } => Ok(printed(
            script_build::command(&script, output.as_deref()).map(|_| Vec::new()),
        )),
        Command::Target { target } => {
            let (address, config) = target.settings();
            montecarlo::serve_until_ctrl_c(address, config)
                .await
                .map(|()| 0)
                .map_err(anyhow::Error::from)
        }
    };
    result.unwrap_or_else(|e| {
        eprintln!("error: {e:#}");
        1
    })
}

/// Prints `lines` and gives exit code 0, or prints the error and gives 1.
fn printed(lines: Result<Vec<String>, impl std::fmt::Display>) -> i32 {
    match lines {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

async fn registry_command(command: RegistryCommand) -> Result<Vec<String>, RegistryError> {
    match command {
        RegistryCommand::Index {
            command: IndexCommand::Build { dir },
        } => commands::build_index(&dir),
        RegistryCommand::Check { index } => commands::check(&index).await,
        RegistryCommand::Push { file, reference } => {
            commands::push(&file, &reference).await.map(|l| vec![l])
        }
        RegistryCommand::Pull { name, registries } => commands::pull(&name, &registries.list)
            .await
            .map(|l| vec![l]),
        RegistryCommand::List { registries } => commands::list(&registries.list).await,
    }
}

fn app_error(e: app::AppError) -> anyhow::Result<i32> {
    eprintln!("error: {e}");
    Ok(e.exit_code())
}
