//! The `httptop` binary: arguments, capture source, engine, presenters, signals, exit codes.

mod args;
mod config;
mod counters;
mod demo;
mod generate;
mod logfile;
mod logthread;
mod mode;
mod plaintext;
mod privs;
mod progress;
mod refresh;
mod report;
mod runtime;
mod shards;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = match config::load(std::env::args_os().collect()) {
        Ok(config::Loaded {
            print: Some(text), ..
        }) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Ok(config::Loaded { args, .. }) => match args.generate {
            Some(what) => {
                return match generate::write(what, &mut std::io::stdout().lock()) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("httptop: {e}");
                        ExitCode::from(1)
                    }
                }
            }
            None => args,
        },
        Err(e) => {
            eprintln!("httptop: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(runtime::Failure::Usage(msg)) => {
            eprintln!("httptop: {msg}");
            ExitCode::from(2)
        }
        Err(runtime::Failure::Other(e)) => {
            eprintln!("httptop: {e:#}");
            ExitCode::from(1)
        }
    }
}
