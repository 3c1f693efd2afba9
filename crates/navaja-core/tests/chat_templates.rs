//! Chat templates rendered by navaja against reference renderings made by
//! Python jinja2 the way HF transformers renders them
//! (tests/fixtures/chat/render_reference.py), byte for byte, with the
//! templates and special tokens of the real model files in models/.

use std::path::{Path, PathBuf};

use navaja_core::chat::{ChatDateTime, ChatMessage, ChatTemplate, RenderOptions, TemplateValue};
use navaja_core::gguf::GgufHeader;
use serde::Deserialize;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/chat")
}

/// Parses the header of a model file in models/; a missing file fails the
/// test (these files are part of the test setup, not optional).
fn gguf(name: &str) -> GgufHeader {
    let path = repo_root().join("models").join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("model file {} is missing or unreadable ({e}); run scripts/setup.sh to fetch the models", path.display())
    });
    GgufHeader::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_text(name: &str) -> String {
    let path = fixtures().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {} unreadable: {e}", path.display()))
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    template: Source,
    tokens_from: Option<String>,
    add_generation_prompt: bool,
    now: Option<[i64; 6]>,
    #[serde(default)]
    extra: Option<TemplateValue>,
    messages: Vec<TemplateValue>,
    #[serde(default)]
    error: bool,
    expected: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Source {
    Gguf(String),
    File(String),
}

fn load_cases() -> Vec<Case> {
    let cases: Cases = serde_json::from_str(&fixture_text("conversations.json")).expect("conversations.json parses");
    cases.cases
}

fn template_of(case: &Case) -> ChatTemplate {
    let mut template = match &case.template {
        Source::Gguf(name) => ChatTemplate::from_gguf(&gguf(name).metadata)
            .unwrap_or_else(|e| panic!("{}: {e}", case.name))
            .unwrap_or_else(|| panic!("{name} has no tokenizer.chat_template")),
        Source::File(name) => {
            ChatTemplate::new(&fixture_text(name)).unwrap_or_else(|e| panic!("{}: {name}: {e}", case.name))
        }
    };
    if let Some(name) = &case.tokens_from {
        // The special tokens as the GGUF names them, whatever the template's origin.
        let from_file = special_tokens(name);
        template = template.with_special_tokens(from_file.0, from_file.1);
    }
    template
}

fn special_tokens(gguf_name: &str) -> (Option<String>, Option<String>) {
    let header = gguf(gguf_name);
    let meta = &header.metadata;
    let tokens = match meta.get_array("tokenizer.ggml.tokens").unwrap() {
        Some(navaja_core::gguf::GgufArray::String(t)) => t.clone(),
        _ => panic!("{gguf_name} has no token list"),
    };
    let token = |key: &str| meta.get_u64(key).unwrap().map(|id| tokens[id as usize].clone());
    (token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"))
}

fn options(case: &Case) -> RenderOptions {
    let extra = match &case.extra {
        None => Vec::new(),
        Some(TemplateValue::Map(pairs)) => pairs.clone(),
        Some(other) => panic!("{}: extra must be an object, is {other:?}", case.name),
    };
    let now = case.now.map(|[y, mo, d, h, mi, s]| {
        let small = |v: i64| u8::try_from(v).expect("date field fits u8");
        ChatDateTime::new(y as i32, small(mo), small(d), small(h), small(mi), small(s)).expect("valid date")
    });
    RenderOptions { add_generation_prompt: case.add_generation_prompt, now, extra, ..RenderOptions::default() }
}

/// Shows where two renderings part, with some context and escapes visible.
fn first_difference(got: &str, want: &str) -> String {
    let at = got.bytes().zip(want.bytes()).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    let around = |s: &str| {
        let mut start = at.saturating_sub(40).min(s.len());
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + 40).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        format!("{:?}", &s[start..end])
    };
    format!("first difference at byte {at}:\n  navaja: {}\n  jinja2: {}", around(got), around(want))
}

#[test]
fn chat_renders_like_jinja2_for_every_reference_conversation() {
    let cases = load_cases();
    assert!(cases.len() >= 5, "conversations.json lost its cases");
    for case in &cases {
        let template = template_of(case);
        let opts = options(case);
        let want = fixture_text(&case.expected);
        let got = template.render_values(&case.messages, &opts);
        if case.error {
            let err = got.expect_err(&format!("{}: should have been rejected", case.name));
            assert_eq!(err.code(), "invalid-argument", "{}: {err}", case.name);
            assert!(err.to_string().contains(&want), "{}: error {err:?} should carry {want:?}", case.name);
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        assert!(got == want, "{}: rendering differs from jinja2's\n{}", case.name, first_difference(&got, &want));

        // Plain-text conversations go through the typed API too, with the same result.
        let typed: Result<Vec<ChatMessage>, _> =
            case.messages.iter().map(|m| serde_json::from_value(serde_json::to_value(m).unwrap())).collect();
        if let Ok(typed) = typed {
            let got = template.render(&typed, &opts).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            assert!(got == want, "{} (typed): {}", case.name, first_difference(&got, &want));
        }
    }
}

/// The acceptance: SmolLM2's GGUF template, a 3-message conversation.
#[test]
fn chat_smollm2_gguf_template_three_messages() {
    let template = ChatTemplate::from_gguf(&gguf("SmolLM2-135M-Instruct.Q4_1.gguf").metadata)
        .expect("template compiles")
        .expect("SmolLM2's GGUF ships a chat template");
    assert_eq!(template.bos_token(), Some("<|im_start|>"));
    assert_eq!(template.eos_token(), Some("<|im_end|>"));
    let messages = [
        ChatMessage::system("You are a concise assistant. Answer in one sentence."),
        ChatMessage::user("What is the capital of France?"),
        ChatMessage::assistant("The capital of France is Paris."),
    ];
    let opts = RenderOptions { add_generation_prompt: true, ..RenderOptions::default() };
    let got = template.render(&messages, &opts).unwrap();
    let want = fixture_text("smollm2.expected.txt");
    assert!(got == want, "{}", first_difference(&got, &want));
}

/// Gemma 3 270m's GGUF has no template: from_gguf says so instead of guessing.
#[test]
fn chat_gemma3_gguf_has_no_template() {
    let header = gguf("gemma-3-270m-q4_k_m.gguf");
    assert!(ChatTemplate::from_gguf(&header.metadata).unwrap().is_none());
    assert_eq!(special_tokens("gemma-3-270m-q4_k_m.gguf"), (Some("<bos>".into()), Some("<eos>".into())));
}

#[test]
fn chat_gemma3_bad_alternation_is_a_clear_error() {
    let template =
        ChatTemplate::new(&fixture_text("gemma3.jinja")).unwrap().with_special_tokens(Some("<bos>".into()), None);
    let messages = [ChatMessage::user("a"), ChatMessage::assistant("b"), ChatMessage::assistant("c")];
    let err = template.render(&messages, &RenderOptions::default()).unwrap_err();
    assert_eq!(err.code(), "invalid-argument");
    let msg = err.to_string();
    assert!(msg.contains("Conversation roles must alternate user/assistant/user/assistant/..."), "{msg}");
    // The line of the raise_exception call in gemma3.jinja.
    assert!(msg.contains("template line 19"), "{msg}");
}

#[test]
fn chat_unsupported_construct_is_a_clear_error() {
    // A tag minijinja does not know fails at compile time.
    let err = ChatTemplate::new("{{ bos_token }}\n{% trans %}hi{% endtrans %}").unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    assert!(err.to_string().contains("trans") && err.to_string().contains("line 2"), "{err}");
    // Python's printf-style `%` on strings works in jinja2 ("a-3"), not here.
    let template = ChatTemplate::new("{{ '%s-%d' % ('a', 3) }}").unwrap();
    let err = template.render(&[], &RenderOptions::default()).unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    assert!(err.to_string().contains("% operator") && err.to_string().contains("line 1"), "{err}");
    // An unknown filter is only found when rendering reaches it (jinja2 refuses it when compiling).
    let template = ChatTemplate::new("{% for m in messages %}\n{{ m.content|wordwrap(10) }}{% endfor %}").unwrap();
    let err = template.render(&[ChatMessage::user("x")], &RenderOptions::default()).unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    let msg = err.to_string();
    assert!(msg.contains("wordwrap") && msg.contains("line 2"), "{msg}");
}

#[test]
fn chat_syntax_error_names_its_line() {
    let err =
        ChatTemplate::new("{{ bos_token }}\n{% if messages %}\n{{ messages[0].content }\n{% endif %}").unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    let msg = err.to_string();
    assert!(msg.contains("syntax error") && msg.contains("line 3"), "{msg}");
}

#[test]
fn chat_raise_exception_carries_the_template_message() {
    let template = ChatTemplate::new(
        "{% if messages[0].role != 'system' %}{{ raise_exception('A system message must come first, got ' + messages[0].role) }}{% endif %}ok",
    )
    .unwrap();
    let err = template.render(&[ChatMessage::user("hi")], &RenderOptions::default()).unwrap_err();
    assert_eq!(err.code(), "invalid-argument");
    assert!(err.to_string().contains("A system message must come first, got user"), "{err}");
    assert_eq!(template.render(&[ChatMessage::system("s")], &RenderOptions::default()).unwrap(), "ok");
}
