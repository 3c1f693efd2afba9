//! `navaja`: the native command line. It only translates arguments into
//! calls to navaja-gpu / navaja-core and results into text or JSON.

mod devices;
mod inspect;
mod model_files;
mod tokenize;

use std::path::PathBuf;
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
    /// Describe a model: a GGUF file or a safetensors folder.
    Inspect {
        /// A .gguf file, or a folder with model.safetensors and config.json.
        path: PathBuf,
        /// Print JSON (every tensor and metadata entry) instead of a summary.
        #[arg(long)]
        json: bool,
    },
    /// Turn text into token ids with a model's tokenizer (or ids into text with --decode).
    Tokenize {
        /// A .gguf file, or a folder with tokenizer.json.
        #[arg(long)]
        model: PathBuf,
        /// The text (or, with --decode, the ids: "1 2 3" or "[1, 2, 3]").
        text: String,
        #[arg(long)]
        json: bool,
        /// Decode ids back to text.
        #[arg(long)]
        decode: bool,
        /// Do not add BOS/EOS tokens, even where the model asks for them.
        #[arg(long)]
        no_special: bool,
        /// Tokenize special-token text like `<|im_start|>` as plain text.
        #[arg(long)]
        no_parse_special: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devices { json } => devices::run(json),
        Command::Inspect { path, json } => inspect::run(&path, json),
        Command::Tokenize { model, text, json, decode, no_special, no_parse_special } => {
            tokenize::run(&tokenize::Options { model: &model, text: &text, json, decode, no_special, no_parse_special })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("navaja: error [{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}
