//! Behaviour of the renderer on small inline templates. Byte-for-byte
//! agreement with Python jinja2 on real templates is checked in
//! tests/chat_templates.rs against fixtures jinja2 produced.

use super::*;
use crate::gguf::GgufValue;

fn render(src: &str, messages: &[ChatMessage], opts: &RenderOptions) -> Result<String> {
    ChatTemplate::new(src)?.render(messages, opts)
}

fn convo() -> Vec<ChatMessage> {
    vec![ChatMessage::system("Be brief."), ChatMessage::user("Hi"), ChatMessage::assistant("Hello!")]
}

#[test]
fn trim_and_lstrip_blocks_like_transformers() {
    let src =
        "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}\n";
    assert_eq!(render(src, &convo(), &RenderOptions::default()).unwrap(), "[Hi]\n");
}

#[test]
fn prints_values_like_python_str() {
    let src =
        "{{ none }} {{ add_generation_prompt }} {{ 1.0 }} {{ 1/4 }} {{ [1, 'a', none] }} {{ tools }} {{ missing }}|";
    assert_eq!(render(src, &[], &RenderOptions::default()).unwrap(), "None False 1.0 0.25 [1, 'a', None] None |");
}

#[test]
fn python_methods_and_loop_controls() {
    let src = "{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}\
               {{ m['content'].strip().upper() }}{% if m.content.startswith('Hel') %}{% break %}{% endif %}{% endfor %}\
               {% for k, v in messages[0].items() %} {{ k }}={{ v }}{% endfor %}";
    assert_eq!(render(src, &convo(), &RenderOptions::default()).unwrap(), "HIHELLO! role=system content=Be brief.");
}

#[test]
fn special_tokens_and_extras_reach_the_template() {
    let t = ChatTemplate::new("{{ bos_token }}{{ tools|tojson }}{{ eos_token }}{{ flag }}")
        .unwrap()
        .with_special_tokens(Some("<s>".into()), Some("</s>".into()));
    let tool = TemplateValue::map([("name", "f".into()), ("description", "<d> & 'q'".into())]);
    let opts = RenderOptions {
        extra: vec![("tools".into(), TemplateValue::List(vec![tool])), ("flag".into(), true.into())],
        ..RenderOptions::default()
    };
    // Insertion order and no HTML escaping, as json.dumps prints it.
    assert_eq!(t.render(&[], &opts).unwrap(), r#"<s>[{"name": "f", "description": "<d> & 'q'"}]</s>True"#);
    let opts = RenderOptions { bos_token: Some("[BOS]".into()), ..RenderOptions::default() };
    assert_eq!(t.render(&[], &opts).unwrap(), "[BOS]null</s>");
}

#[test]
fn tojson_options() {
    let src = "{{ messages[0]|tojson(indent=2) }}|{{ messages[0]|tojson(separators=(',', ':'), sort_keys=true) }}|{{ 'é'|tojson(ensure_ascii=true) }}";
    let out = render(src, &convo()[..1], &RenderOptions::default()).unwrap();
    assert_eq!(
        out,
        "{\n  \"role\": \"system\",\n  \"content\": \"Be brief.\"\n}|{\"content\":\"Be brief.\",\"role\":\"system\"}|\"\\u00e9\""
    );
}

#[test]
fn raise_exception_is_invalid_argument_with_the_message() {
    let src = "line one\n{% if messages|length > 1 %}{{ raise_exception('Only one message, please') }}{% endif %}";
    let err = render(src, &convo(), &RenderOptions::default()).unwrap_err();
    assert_eq!(err.code(), "invalid-argument");
    let msg = err.to_string();
    assert!(msg.contains("Only one message, please") && msg.contains("line 2"), "{msg}");
}

#[test]
fn syntax_error_is_unsupported_with_its_line() {
    let err = ChatTemplate::new("ok\n{% for m in messages %}\n{{ m.content }").unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    let msg = err.to_string();
    assert!(msg.contains("syntax error") && msg.contains("line 3"), "{msg}");
}

#[test]
fn unknown_filter_or_function_is_unsupported() {
    let err = render("\n{{ messages|shuffle }}", &convo(), &RenderOptions::default()).unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    assert!(err.to_string().contains("shuffle") && err.to_string().contains("line 2"), "{err}");
    let err = render("{{ fetch_weather('x') }}", &convo(), &RenderOptions::default()).unwrap_err();
    assert_eq!(err.code(), "unsupported-model");
    assert!(err.to_string().contains("fetch_weather"), "{err}");
}

#[test]
fn strftime_now_needs_a_date() {
    let src = "Today: {{ strftime_now('%d %b %Y') }}";
    let err = render(src, &[], &RenderOptions::default()).unwrap_err();
    assert_eq!(err.code(), "invalid-argument");
    assert!(err.to_string().contains("RenderOptions::now"), "{err}");
    let opts = RenderOptions { now: Some(ChatDateTime::new(2025, 3, 7, 9, 0, 0).unwrap()), ..RenderOptions::default() };
    assert_eq!(render(src, &[], &opts).unwrap(), "Today: 07 Mar 2025");
}

#[test]
fn reserved_extras_are_refused() {
    let opts = RenderOptions { extra: vec![("messages".into(), TemplateValue::Null)], ..RenderOptions::default() };
    assert_eq!(render("x", &[], &opts).unwrap_err().code(), "invalid-argument");
}

#[test]
fn generation_tags_render_their_body() {
    let src = "{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% endif %}{% endfor %}";
    assert_eq!(render(src, &convo(), &RenderOptions::default()).unwrap(), "Hello!");
}

#[test]
fn render_values_accepts_content_parts() {
    let src = "{% for part in messages[0].content %}{{ part.type }}:{{ part.text }};{% endfor %}";
    let part = TemplateValue::map([("type", "text".into()), ("text", "hi".into())]);
    let msg = TemplateValue::map([("role", "user".into()), ("content", TemplateValue::List(vec![part]))]);
    let t = ChatTemplate::new(src).unwrap();
    assert_eq!(t.render_values(&[msg], &RenderOptions::default()).unwrap(), "text:hi;");
}

#[test]
fn template_values_deserialize_in_order() {
    let v: TemplateValue = serde_json::from_str(r#"{"z": 1, "a": [true, null, 2.5, "s"], "z": 3}"#).unwrap();
    let want = TemplateValue::Map(vec![
        ("z".into(), TemplateValue::Int(3)),
        ("a".into(), TemplateValue::List(vec![true.into(), TemplateValue::Null, 2.5.into(), "s".into()])),
    ]);
    assert_eq!(v, want);
    assert_eq!(serde_json::to_string(&v).unwrap(), r#"{"z":3,"a":[true,null,2.5,"s"]}"#);
}

fn metadata(pairs: Vec<(&str, GgufValue)>) -> Metadata {
    let mut meta = Metadata::default();
    for (k, v) in pairs {
        meta.insert(k.into(), v).unwrap();
    }
    meta
}

#[test]
fn from_gguf_reads_template_and_special_tokens() {
    let tokens = GgufValue::Array(GgufArray::String(vec!["<unk>".into(), "<s>".into(), "</s>".into()]));
    let meta = metadata(vec![
        (
            "tokenizer.chat_template",
            GgufValue::String("{{ bos_token }}{{ messages[0].content }}{{ eos_token }}".into()),
        ),
        ("tokenizer.ggml.tokens", tokens.clone()),
        ("tokenizer.ggml.bos_token_id", GgufValue::U32(1)),
        ("tokenizer.ggml.eos_token_id", GgufValue::U32(2)),
    ]);
    let t = ChatTemplate::from_gguf(&meta).unwrap().unwrap();
    assert_eq!((t.bos_token(), t.eos_token()), (Some("<s>"), Some("</s>")));
    assert_eq!(t.render(&[ChatMessage::user("x")], &RenderOptions::default()).unwrap(), "<s>x</s>");

    assert!(ChatTemplate::from_gguf(&metadata(vec![("tokenizer.ggml.tokens", tokens.clone())])).unwrap().is_none());

    let bad = metadata(vec![
        ("tokenizer.chat_template", GgufValue::String("x".into())),
        ("tokenizer.ggml.tokens", tokens),
        ("tokenizer.ggml.bos_token_id", GgufValue::U32(7)),
    ]);
    assert_eq!(ChatTemplate::from_gguf(&bad).unwrap_err().code(), "model-format");
    let wrong_type = metadata(vec![("tokenizer.chat_template", GgufValue::U32(1))]);
    assert_eq!(ChatTemplate::from_gguf(&wrong_type).unwrap_err().code(), "model-format");
}
