//! `navaja`: the native command line. It only translates arguments into
//! calls to navaja-gpu / navaja-core and results into text or JSON.

mod bench;
mod bench_cpu;
mod bench_embed;
mod bench_kv;
mod devices;
mod embed;
mod generate;
mod inspect;
mod kv_eval;
mod model_files;
mod rerank;
mod runtime;
mod score;
mod tokenize;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use navaja_core::quant::kv::KvType;

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
    /// Generate text from a prompt, streaming it to stdout.
    Generate {
        /// A GGUF decoder model.
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        prompt: String,
        /// Send the prompt as a user message through the model's chat template.
        #[arg(long)]
        chat: bool,
        /// System message (with --chat).
        #[arg(long)]
        system: Option<String>,
        /// Do not add the BOS token even where the model's metadata asks for it.
        #[arg(long)]
        no_bos: bool,
        /// Print one JSON object: generated ids, text, finish reason and timings.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sampling: generate::SamplingArgs,
        #[command(flatten)]
        cache: runtime::CacheArgs,
    },
    /// Chat with a model in the terminal (the conversation stays in the KV cache).
    Chat {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        system: Option<String>,
        #[command(flatten)]
        sampling: generate::SamplingArgs,
        #[command(flatten)]
        cache: runtime::CacheArgs,
    },
    /// Teacher forcing: the model's top-1 prediction and the log-likelihood at
    /// every position of a text (JSON), for agreement and perplexity checks.
    Score {
        #[arg(long)]
        model: PathBuf,
        /// A UTF-8 text file to tokenize and score.
        #[arg(long)]
        text_file: Option<PathBuf>,
        /// Token ids instead of text: "1 2 3" or "[1, 2, 3]".
        #[arg(long)]
        ids: Option<String>,
        #[arg(long)]
        no_bos: bool,
        /// Score only the first N tokens.
        #[arg(long)]
        max_tokens: Option<usize>,
        /// How the KV cache stores keys and values: f32, f16, q8 or q4.
        #[arg(long, value_parser = runtime::parse_kv, default_value = "f32")]
        kv: KvType,
    },
    /// The quality a quantized KV cache costs: teacher forcing over a text with
    /// an f32 cache and with each --kv type (top-1 agreement, mean KL divergence,
    /// perplexities, cache bytes per token). One JSON line per type.
    KvEval {
        #[arg(long)]
        model: PathBuf,
        /// A UTF-8 text file (the model's BOS is added as its metadata says).
        #[arg(long)]
        text: PathBuf,
        /// Cache types to compare with f32, comma-separated: f16, q8, q4.
        #[arg(long, value_parser = runtime::parse_kv, value_delimiter = ',', default_value = "q8")]
        kv: Vec<KvType>,
        /// Use only the first N tokens of the text.
        #[arg(long, default_value_t = 1000)]
        tokens: usize,
    },
    /// Decode speed at a long context with each KV cache type, alternating
    /// between the types run after run (JSON, medians).
    BenchKv {
        #[arg(long)]
        model: PathBuf,
        #[arg(long, value_parser = runtime::parse_kv, value_delimiter = ',', default_value = "f32,f16,q8,q4")]
        kv: Vec<KvType>,
        /// Tokens in the cache when the timed decoding starts.
        #[arg(long, default_value_t = 2000)]
        context: usize,
        #[arg(long, default_value_t = 16)]
        decode_tokens: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// Embed texts with a BERT-family encoder (a GGUF file or a sentence-transformers folder).
    Embed {
        #[arg(long)]
        model: PathBuf,
        /// Print one JSON object: {"model", "dim", "embeddings": [[...], ...]} in input order.
        #[arg(long)]
        json: bool,
        /// Also print the matrix of cosine similarities between the texts.
        #[arg(long)]
        similarity: bool,
        /// Override the model's pooling: mean, cls or last.
        #[arg(long, value_parser = embed::parse_pooling)]
        pooling: Option<navaja_core::model::Pooling>,
        /// Do not L2-normalise the embeddings, whatever the model says.
        #[arg(long)]
        no_normalize: bool,
        /// The texts, one embedding each.
        texts: Vec<String>,
    },
    /// Score documents for a query with a cross-encoder (reranker), best first.
    Rerank {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        query: String,
        #[arg(long)]
        json: bool,
        /// The documents to rank.
        docs: Vec<String>,
    },
    /// Measure embedding throughput: texts per second for batches of short sentences (JSON).
    BenchEmbed {
        #[arg(long)]
        model: PathBuf,
        /// Texts per batch.
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// Timed runs; medians are reported with min and max.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Words per text (15 are about 20 tokens).
        #[arg(long, default_value_t = 15)]
        words: usize,
    },
    /// Measure decode and prefill speed and the adapter's read bandwidth (JSON).
    Bench {
        #[arg(long)]
        model: PathBuf,
        /// Runs per figure; medians are reported with min and max.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 128)]
        prompt_tokens: usize,
        #[arg(long, default_value_t = 64)]
        decode_tokens: usize,
        /// How the KV cache stores keys and values: f32, f16, q8 or q4 (default: q8 where the model allows).
        #[arg(long, value_parser = runtime::parse_kv)]
        kv: Option<KvType>,
        /// gpu (wgpu's adapter) or cpu (navaja-core's CPU backend, one thread; KV cache f32 or q8).
        #[arg(long, default_value = "gpu", value_parser = ["gpu", "cpu"])]
        backend: String,
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
        Command::Generate { model, prompt, chat, system, no_bos, json, sampling, cache } => {
            generate::generate(&generate::GenerateArgs {
                model: &model,
                prompt: &prompt,
                chat,
                system: system.as_deref(),
                no_bos,
                json,
                sampling: &sampling,
                cache: &cache,
            })
        }
        Command::Chat { model, system, sampling, cache } => {
            generate::chat(&model, system.as_deref(), &sampling, &cache)
        }
        Command::Score { model, text_file, ids, no_bos, max_tokens, kv } => score::run(&score::ScoreArgs {
            model: &model,
            text_file: text_file.as_deref(),
            ids: ids.as_deref(),
            no_bos,
            max_tokens,
            kv,
        }),
        Command::KvEval { model, text, kv, tokens } => {
            kv_eval::run(&kv_eval::KvEvalArgs { model: &model, text_file: &text, kv: &kv, max_tokens: tokens })
        }
        Command::BenchKv { model, kv, context, decode_tokens, runs } => {
            bench_kv::run(&bench_kv::BenchKvArgs { model: &model, kv: &kv, context, decode_tokens, runs })
        }
        Command::Bench { model, runs, prompt_tokens, decode_tokens, kv, backend } => {
            let args = bench::BenchArgs { model: &model, kv, runs, prompt_tokens, decode_tokens };
            if backend == "cpu" { bench_cpu::run(&args) } else { bench::run(&args) }
        }
        Command::Embed { model, json, similarity, pooling, no_normalize, texts } => {
            embed::run(&embed::EmbedArgs { model: &model, texts: &texts, json, similarity, pooling, no_normalize })
        }
        Command::Rerank { model, query, json, docs } => {
            rerank::run(&rerank::RerankArgs { model: &model, query: &query, docs: &docs, json })
        }
        Command::BenchEmbed { model, batch, runs, words } => {
            bench_embed::run(&bench_embed::BenchEmbedArgs { model: &model, batch, runs, words })
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
