//! Test inputs cut from prose: batches whose texts differ in length, so that
//! packing and per-sequence attention are exercised.

/// 64 texts of 2 to 31 words cut one after the other from `prose`,
/// deterministic (the encoder tests of both backends share them). Panics if
/// `prose` has fewer than about 1,100 words.
pub fn mixed_length_texts(prose: &str) -> Vec<String> {
    let words: Vec<&str> = prose.split_whitespace().collect();
    let mut at = 0;
    (0..64)
        .map(|i| {
            let n = 2 + (i * 17) % 30;
            let t = words[at..at + n].join(" ");
            at += n;
            t
        })
        .collect()
}
