//! Text generation over a [`Session`] (the loop itself is navaja-core's,
//! shared with the CPU backend), and multi-turn chat through the model's template.
//!
//! The loop per token: the GPU applies the penalties and biases the sampler
//! asks for, reduces the logits to the candidates it needs, and the host
//! draws one; the token then goes back in as the next one-token step.

use navaja_core::Result;
use navaja_core::chat::{ChatMessage, ChatTemplate, RenderOptions};
use navaja_core::ops::logits::TopKResult;
use navaja_core::tokenizer::Tokenizer;

use crate::session::{Pick, Session};

pub use navaja_core::generate::{Clock, GenerateOptions, Generation, OnText, Timings, TokenModel};

impl TokenModel for Session {
    fn tokens(&self) -> &[u32] {
        Session::tokens(self)
    }

    fn capacity(&self) -> usize {
        Session::capacity(self)
    }

    fn vocab_size(&self) -> usize {
        self.model().spec().vocab_size
    }

    fn truncate(&mut self, len: usize) -> usize {
        Session::truncate(self, len)
    }

    async fn feed(&mut self, ids: &[u32], pick: &Pick) -> Result<TopKResult> {
        Session::feed(self, ids, pick).await
    }
}

impl Session {
    /// Continues `prompt` (token ids, special tokens included): reuses the
    /// longest prefix already in the cache, prefills the rest, then samples
    /// until an end-of-generation token, a stop string or `max_tokens`
    /// (the loop of [`navaja_core::generate::generate`]).
    pub async fn generate(
        &mut self,
        tokenizer: &Tokenizer,
        prompt: &[u32],
        opts: &GenerateOptions,
        on_text: OnText<'_>,
        clock: Clock<'_>,
    ) -> Result<Generation> {
        navaja_core::generate::generate(self, tokenizer, prompt, opts, on_text, clock).await
    }
}

/// A conversation: its messages and the template that renders them. The
/// session's cache keeps the rendered conversation, so each turn prefills
/// only the new message.
pub struct Chat {
    template: ChatTemplate,
    messages: Vec<ChatMessage>,
}

impl Chat {
    pub fn new(template: ChatTemplate, system: Option<&str>) -> Chat {
        Chat { template, messages: system.map(|s| vec![ChatMessage::system(s)]).unwrap_or_default() }
    }

    pub fn messages(&self) -> &[ChatMessage] {
        &self.messages
    }

    /// Renders the conversation plus the assistant header, as token ids.
    pub fn prompt_ids(&self, tokenizer: &Tokenizer) -> Result<Vec<u32>> {
        chat_prompt_ids(&self.template, &self.messages, tokenizer)
    }

    /// Adds `user` to the conversation and generates the reply, which is
    /// appended as the assistant's message (unless generation failed).
    pub async fn reply(
        &mut self,
        session: &mut Session,
        tokenizer: &Tokenizer,
        user: &str,
        opts: &GenerateOptions,
        on_text: OnText<'_>,
        clock: Clock<'_>,
    ) -> Result<Generation> {
        self.messages.push(ChatMessage::user(user));
        let prompt = match self.prompt_ids(tokenizer) {
            Ok(p) => p,
            Err(e) => {
                self.messages.pop();
                return Err(e);
            }
        };
        match session.generate(tokenizer, &prompt, opts, on_text, clock).await {
            Ok(g) => {
                self.messages.push(ChatMessage::assistant(g.text.trim()));
                Ok(g)
            }
            Err(e) => {
                self.messages.pop();
                Err(e)
            }
        }
    }
}

/// Renders `messages` through `template`, followed by the assistant's
/// header, as the token ids a reply continues (what a stateless chat API,
/// which gets the whole conversation each time, feeds to [`Session::generate`]).
pub fn chat_prompt_ids(template: &ChatTemplate, messages: &[ChatMessage], tokenizer: &Tokenizer) -> Result<Vec<u32>> {
    let text = template.render(messages, &RenderOptions { add_generation_prompt: true, ..Default::default() })?;
    // Templates that print the BOS text themselves must not get a second one.
    let template_has_bos =
        tokenizer.bos().and_then(|b| tokenizer.token_text(b).ok()).is_some_and(|b| text.starts_with(b));
    tokenizer.encode(&text, !template_has_bos, true)
}
