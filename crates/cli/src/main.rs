//! The `httptop` binary: arguments, capture source, engine, presenters, signals, exit codes.

mod args;
mod counters;
mod demo;
mod mode;
mod plaintext;
mod privs;
mod refresh;
mod report;
mod runtime;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = args::Args::parse();
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
