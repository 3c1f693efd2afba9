//! [`StopMatcher`]: stop strings over streamed text. Text arrives a token at
//! a time and a stop string may span several tokens, so the end of the text
//! that could still grow into a stop string is held back until it either
//! completes (the output is cut before it) or stops matching (it is released).

/// What [`StopMatcher::push`] allows out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StopOutcome {
    /// Text safe to show now.
    pub emit: String,
    /// A stop string completed: `emit` ends just before it, and generation should end.
    pub stopped: bool,
}

#[derive(Debug, Clone)]
pub struct StopMatcher {
    stops: Vec<String>,
    /// Text not yet emitted: a suffix that is the start of some stop string.
    held: String,
    stopped: bool,
}

impl StopMatcher {
    /// Empty stop strings are ignored (they would stop before any output).
    pub fn new(stop_strings: Vec<String>) -> StopMatcher {
        let stops = stop_strings.into_iter().filter(|s| !s.is_empty()).collect();
        StopMatcher { stops, held: String::new(), stopped: false }
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds the next piece of decoded text. Once stopped, everything pushed is dropped.
    pub fn push(&mut self, text: &str) -> StopOutcome {
        if self.stopped {
            return StopOutcome { emit: String::new(), stopped: true };
        }
        self.held.push_str(text);
        // The earliest stop string wins; nothing before `held` can be part of
        // a match, since every suffix that could start one was held.
        if let Some(at) = self.stops.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            self.held.truncate(at);
            self.stopped = true;
            return StopOutcome { emit: std::mem::take(&mut self.held), stopped: true };
        }
        let keep = self.stops.iter().map(|s| partial_match(&self.held, s)).max().unwrap_or(0);
        // The kept suffix starts with a stop string's first byte, a UTF-8
        // lead byte, so the cut is a char boundary.
        let rest = self.held.split_off(self.held.len() - keep);
        StopOutcome { emit: std::mem::replace(&mut self.held, rest), stopped: false }
    }

    /// Releases the held-back text at the end of generation (nothing if stopped).
    pub fn finish(self) -> String {
        if self.stopped { String::new() } else { self.held }
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`.
fn partial_match(text: &str, stop: &str) -> usize {
    let (text, stop) = (text.as_bytes(), stop.as_bytes());
    (1..stop.len().min(text.len() + 1)).rev().find(|&k| text.ends_with(&stop[..k])).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            let o = m.push(p);
            out.push_str(&o.emit);
            if o.stopped {
                assert!(m.is_stopped());
                assert_eq!(m.push("more"), StopOutcome { emit: String::new(), stopped: true });
                assert_eq!(m.finish(), "");
                return (out, true);
            }
        }
        out.push_str(&m.finish());
        (out, false)
    }

    #[test]
    fn no_stops_passes_through() {
        let mut m = StopMatcher::new(vec![String::new()]);
        assert_eq!(m.push("abc").emit, "abc");
        assert_eq!(run(&[], &["a", "b"]), ("ab".into(), false));
    }

    #[test]
    fn cuts_before_the_stop_string() {
        assert_eq!(run(&["STOP"], &["hello STOP world"]), ("hello ".into(), true));
        assert_eq!(run(&["STOP"], &["STOP"]), ("".into(), true));
    }

    #[test]
    fn stop_split_across_many_pieces() {
        let mut m = StopMatcher::new(vec!["<|end|>".into()]);
        assert_eq!(m.push("Hi <").emit, "Hi ");
        assert_eq!(m.push("|").emit, "");
        assert_eq!(m.push("e").emit, "");
        assert_eq!(m.push("n").emit, "");
        let o = m.push("d|> trailing");
        assert_eq!(o, StopOutcome { emit: String::new(), stopped: true });
        let pieces: Vec<String> = "once <|end|> after".chars().map(String::from).collect();
        let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
        assert_eq!(run(&["<|end|>"], &pieces), ("once ".into(), true));
    }

    #[test]
    fn held_text_is_released_when_it_stops_matching() {
        let mut m = StopMatcher::new(vec!["###".into()]);
        assert_eq!(m.push("a##").emit, "a");
        assert_eq!(m.push("b").emit, "##b");
        assert_eq!(m.push("#").emit, "");
        assert_eq!(m.finish(), "#");
    }

    #[test]
    fn overlapping_prefixes() {
        // "aab" only matches from the second 'a': the first must be released.
        assert_eq!(run(&["aab"], &["a", "a", "a", "b", "c"]), ("a".into(), true));
        // Two stops sharing a prefix; the one that completes first in the text wins.
        assert_eq!(run(&["abcd", "abx"], &["ab", "c", "x"]), ("abcx".into(), false));
        assert_eq!(run(&["abcd", "bcx"], &["ab", "cx"]), ("a".into(), true));
        // The earliest start wins when two complete in the same piece.
        assert_eq!(run(&["bc", "abc"], &["xabc"]), ("x".into(), true));
        // A stop inside another: the longer one starts earlier and wins.
        assert_eq!(run(&["User:", "r:"], &["Use", "r:"]), ("".into(), true));
        assert_eq!(run(&["User:", "r:"], &["Use", "d r:"]), ("Used ".into(), true));
    }

    #[test]
    fn multibyte_characters() {
        assert_eq!(run(&["é!"], &["café", "!"]), ("caf".into(), true));
        assert_eq!(run(&["éa"], &["caf", "é", "b"]), ("caféb".into(), false));
        // A stop string that shares a lead byte with the text but not the character.
        assert_eq!(run(&["\u{e9}"], &["\u{e8}x"]), ("\u{e8}x".into(), false));
    }
}
