//! `navaja generate` and `navaja chat`: text generation in the terminal.

use std::io::{BufRead, Write};

use clap::Args;
use navaja_core::generate::SamplingConfig;
use navaja_core::{NavajaError, Result};
use navaja_gpu::generation::{Chat, GenerateOptions, Generation};
use serde_json::json;

use crate::runtime::{self, CacheArgs};

/// Sampling and stopping options shared by `generate` and `chat`.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// 0 is greedy (always the most likely token).
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Sample among the K most likely tokens (0: off, then the top 128).
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Divide positive (multiply negative) logits of recent tokens by this.
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    #[arg(long, default_value_t = 64)]
    pub repeat_last_n: usize,
    #[arg(long, default_value_t = 0.0)]
    pub presence_penalty: f32,
    #[arg(long, default_value_t = 0.0)]
    pub frequency_penalty: f32,
    /// Add BIAS to token ID's logit: `--logit-bias ID:BIAS`, repeatable.
    #[arg(long, value_parser = parse_bias)]
    pub logit_bias: Vec<(u32, f32)>,
    /// Seed of the sampler; the same seed gives the same text.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop before this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
}

fn parse_bias(s: &str) -> std::result::Result<(u32, f32), String> {
    let (id, bias) = s.split_once(':').ok_or("expected ID:BIAS")?;
    Ok((
        id.trim().parse().map_err(|e| format!("token id: {e}"))?,
        bias.trim().parse().map_err(|e| format!("bias: {e}"))?,
    ))
}

impl SamplingArgs {
    pub fn options(&self) -> GenerateOptions {
        GenerateOptions {
            max_tokens: self.max_tokens,
            sampling: SamplingConfig {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                min_p: self.min_p,
                repeat_penalty: self.repeat_penalty,
                repeat_last_n: self.repeat_last_n,
                presence_penalty: self.presence_penalty,
                frequency_penalty: self.frequency_penalty,
                logit_bias: self.logit_bias.clone(),
                seed: self.seed,
            },
            stop: self.stop.clone(),
            ignore_eos: false,
        }
    }
}

pub struct GenerateArgs<'a> {
    pub model: &'a std::path::Path,
    pub prompt: &'a str,
    pub chat: bool,
    pub system: Option<&'a str>,
    pub no_bos: bool,
    pub json: bool,
    pub sampling: &'a SamplingArgs,
    pub cache: &'a CacheArgs,
}

pub fn generate(a: &GenerateArgs<'_>) -> Result<()> {
    let gpu = runtime::open_gpu()?;
    let (loaded, load_ms) = runtime::load_decoder(&gpu, a.model)?;
    let mut session = runtime::session(&gpu, &loaded, &a.cache.session_options())?;
    let opts = a.sampling.options();
    let clock = runtime::clock();
    let tok = &loaded.tokenizer;
    let mut stdout = std::io::stdout();
    let json = a.json;
    let mut on_text = |text: &str| {
        if !json {
            print!("{text}");
            let _ = stdout.flush();
        }
        true
    };
    let generation = if a.chat {
        let template = loaded.chat_template.clone().ok_or_else(|| {
            NavajaError::unsupported("this model file has no chat template; use a raw --prompt without --chat")
        })?;
        let mut chat = Chat::new(template, a.system);
        pollster::block_on(chat.reply(&mut session, tok, a.prompt, &opts, &mut on_text, &clock))?
    } else {
        let add_special = tok.adds_bos() && !a.no_bos;
        let ids = tok.encode(a.prompt, add_special, true)?;
        pollster::block_on(session.generate(tok, &ids, &opts, &mut on_text, &clock))?
    };
    if a.json {
        println!("{}", serde_json::to_string(&report(&generation, load_ms)).expect("serialisable"));
    } else {
        println!();
        eprintln!("{}", summary(&generation, load_ms));
    }
    Ok(())
}

fn report(g: &Generation, load_ms: f64) -> serde_json::Value {
    json!({
        "ids": g.ids,
        "text": g.text,
        "finish_reason": g.finish_reason,
        "prompt_tokens": g.prompt_tokens,
        "cached_tokens": g.cached_tokens,
        "generated_tokens": g.ids.len(),
        "seed": g.seed,
        "timings": {
            "load_ms": load_ms,
            "prefill_tokens": g.timings.prefill_tokens,
            "prefill_ms": g.timings.prefill_ms,
            "prefill_tokens_per_s": g.timings.prefill_tokens_per_s(),
            "decode_tokens": g.timings.decode_tokens,
            "decode_ms": g.timings.decode_ms,
            "decode_tokens_per_s": g.timings.decode_tokens_per_s(),
        }
    })
}

fn summary(g: &Generation, load_ms: f64) -> String {
    format!(
        "[{} tokens, {:?}; load {:.0} ms; prefill {} tokens ({} reused from the cache) at {:.1} tok/s; decode {:.1} tok/s]",
        g.ids.len(),
        g.finish_reason,
        load_ms,
        g.timings.prefill_tokens,
        g.cached_tokens,
        g.timings.prefill_tokens_per_s(),
        g.timings.decode_tokens_per_s()
    )
}

/// An interactive chat on stdin/stdout; the KV cache carries the
/// conversation, so each turn computes only the new message.
pub fn chat(model: &std::path::Path, system: Option<&str>, sampling: &SamplingArgs, cache: &CacheArgs) -> Result<()> {
    let gpu = runtime::open_gpu()?;
    let (loaded, load_ms) = runtime::load_decoder(&gpu, model)?;
    let template = loaded
        .chat_template
        .clone()
        .ok_or_else(|| NavajaError::unsupported("this model file has no chat template, so it cannot chat"))?;
    let mut session = runtime::session(&gpu, &loaded, &cache.session_options())?;
    let opts = sampling.options();
    let clock = runtime::clock();
    let mut chat = Chat::new(template, system);
    eprintln!("loaded in {load_ms:.0} ms; type a message, an empty line or Ctrl-D to quit");
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    loop {
        eprint!("> ");
        let mut line = String::new();
        if stdin.lock().read_line(&mut line).map_err(|e| NavajaError::invalid(format!("stdin: {e}")))? == 0 {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            break;
        }
        let mut on_text = |text: &str| {
            print!("{text}");
            let _ = stdout.flush();
            true
        };
        match pollster::block_on(chat.reply(&mut session, &loaded.tokenizer, line, &opts, &mut on_text, &clock)) {
            Ok(g) => {
                println!();
                eprintln!("{}", summary(&g, load_ms));
            }
            Err(e) => eprintln!("\nnavaja: error [{}]: {e}", e.code()),
        }
    }
    Ok(())
}
