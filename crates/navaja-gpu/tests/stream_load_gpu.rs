//! Loading a decoder from a GGUF file that arrives in pieces (the browser's
//! download path): the streamed model must compute exactly what the model
//! loaded from the whole file computes, for any chunking, and broken or
//! unsupported files must fail with typed errors, the unsupported ones
//! before the weights are downloaded.
//!
//! No adapter is a failure, never a skip.

use navaja_core::NavajaError;
use navaja_core::model::Architecture;
use navaja_core::quant::GgmlType;
use navaja_core::testing::{TinyBert, TinyDecoder, tiny_bert_gguf, tiny_decoder_gguf};
use navaja_gpu::model::{DecoderStream, LoadedDecoder, load_decoder_gguf};
use navaja_gpu::session::{Session, SessionOptions};

mod common;
use common::gpu;

const PROMPT: [u32; 6] = [1, 17, 42, 299, 5, 130];

fn stream_load(file: &[u8], chunk: usize, known_len: bool) -> navaja_core::Result<LoadedDecoder> {
    let mut stream = DecoderStream::new(gpu().clone(), known_len.then_some(file.len() as u64));
    for piece in file.chunks(chunk) {
        stream.push(piece)?;
    }
    pollster::block_on(stream.finish())
}

fn logits(loaded: &LoadedDecoder) -> Vec<Vec<f32>> {
    let opts = SessionOptions { context_length: 32, max_batch: 8, logit_rows: 8, ..SessionOptions::default() };
    let mut s = pollster::block_on(Session::new(gpu().clone(), loaded.model.clone(), &opts)).unwrap();
    pollster::block_on(s.logits_all(&PROMPT)).unwrap()
}

#[test]
fn a_streamed_model_computes_exactly_what_the_whole_file_computes() {
    // Q4_0 and Q5_0 are repacked at upload (their blocks move), qwen2 adds
    // 1-D biases; chunk sizes split rows, blocks and the header anywhere.
    let cases = [
        (Architecture::Llama, GgmlType::Q4_0, GgmlType::Q8_0, true),
        (Architecture::Qwen2, GgmlType::Q5_0, GgmlType::F16, false),
        (Architecture::Gemma3, GgmlType::Q8_0, GgmlType::Q5_0, true),
    ];
    for (architecture, weight_type, embedding_type, tied_embeddings) in cases {
        let spec = TinyDecoder {
            architecture,
            weight_type,
            embedding_type,
            tied_embeddings,
            seed: 11,
            ..TinyDecoder::default()
        };
        let file = tiny_decoder_gguf(&spec).unwrap();
        let want = logits(&load_decoder_gguf(gpu(), &file).unwrap());
        for (chunk, known_len) in [(7, true), (1000, false), (65_536 + 3, true), (file.len(), false)] {
            let loaded = stream_load(&file, chunk, known_len).unwrap();
            assert_eq!(loaded.tokenizer.vocab_size(), spec.vocab);
            let got = logits(&loaded);
            assert_eq!(got, want, "{architecture:?} {weight_type:?}: chunks of {chunk} give other logits");
        }
    }
}

#[test]
fn broken_files_fail_with_model_format_errors() {
    let file = tiny_decoder_gguf(&TinyDecoder::default()).unwrap();
    // Cut inside the tensors: the header is fine, finish finds the hole.
    let cut = &file[..file.len() - 100];
    let err = stream_load(cut, 4096, false).err().unwrap();
    assert!(matches!(err, NavajaError::ModelFormat(_)), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    // With the length announced, a longer stream is refused as it arrives.
    let mut stream = DecoderStream::new(gpu().clone(), Some(cut.len() as u64));
    let err = file.chunks(4096).try_for_each(|c| stream.push(c)).unwrap_err();
    assert!(matches!(err, NavajaError::ModelFormat(_)), "{err}");
    // Not a GGUF file at all (a web server's HTML error page, say).
    let html = b"<!doctype html><html><body>Not found</body></html>".repeat(20);
    let err = stream_load(&html, 64, true).err().unwrap();
    assert!(matches!(err, NavajaError::ModelFormat(_)), "{err}");
    assert!(err.to_string().contains("not a GGUF file"), "{err}");
    // Cut inside the header.
    let err = stream_load(&file[..200], 64, false).err().unwrap();
    assert!(matches!(err, NavajaError::ModelFormat(_)), "{err}");
}

#[test]
fn an_unsupported_architecture_fails_as_soon_as_the_header_is_in() {
    // An encoder is no decoder: refused from its header, before any weight.
    let file = tiny_bert_gguf(&TinyBert::default()).unwrap();
    let header_len = navaja_core::gguf::GgufHeader::parse(&file).unwrap().data_offset as usize;
    assert!(header_len < file.len() / 2, "the test needs weights after the header");
    let mut stream = DecoderStream::new(gpu().clone(), Some(file.len() as u64));
    let err = stream.push(&file[..header_len + 1]).unwrap_err();
    assert!(matches!(err, NavajaError::UnsupportedModel(_)), "{err}");
    assert!(err.to_string().contains("bert"), "{err}");
}

#[test]
fn the_spec_is_known_once_the_header_has_arrived() {
    let file = tiny_decoder_gguf(&TinyDecoder::default()).unwrap();
    let header_len = navaja_core::gguf::GgufHeader::parse(&file).unwrap().data_offset as usize;
    let mut stream = DecoderStream::new(gpu().clone(), Some(file.len() as u64));
    stream.push(&file[..16]).unwrap();
    assert!(stream.spec().is_none());
    stream.push(&file[16..header_len]).unwrap();
    assert_eq!(stream.spec().map(|s| s.n_layers), Some(TinyDecoder::default().n_layers));
    stream.push(&file[header_len..]).unwrap();
    assert_eq!(stream.received(), file.len() as u64);
    pollster::block_on(stream.finish()).unwrap();
}
