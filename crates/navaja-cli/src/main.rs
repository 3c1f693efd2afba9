//! `navaja`: the native command line. It only translates arguments into
//! calls to navaja-gpu / navaja-core and results into text or JSON.

mod devices;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "navaja", version, about = "Run small language and embedding models on the GPU, on your device")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the GPU adapters wgpu can see, with their features and limits.
    Devices {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices { json } => devices::run(json),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("navaja: error [{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}
