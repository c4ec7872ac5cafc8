//! Prints one `serde_json::to_string` line per input record.
//!
//! The struct below mirrors `bamboo-engine`'s `TokenUsageRecord` field for field
//! (same order, same Rust types), so its output is the engine's log line for the
//! same values. Input: a JSON array of records (default `inputs.json` next to
//! Cargo.toml, or the path given as the first argument). Output: stdout, one
//! line per record, each `\n`-terminated.

use std::io::Write;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
// A typo in inputs.json must fail loudly, not silently drop a value.
#[serde(deny_unknown_fields)]
pub struct TokenUsageRecord {
    pub ts: String,
    pub session_id: String,
    pub model: String,
    pub provider: String,
    pub message_count: usize,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub thinking_tokens: u64,
    pub system_tokens: u32,
    pub summary_tokens: u32,
    pub window_tokens: u32,
    pub total_tokens: u32,
    pub max_context_tokens: u32,
    pub budget_limit: u32,
    pub prompt_cached_tool_outputs: usize,
    pub prompt_cached_tool_tokens_saved: u32,
    pub truncation_occurred: bool,
    pub segments_removed: usize,
}

fn main() {
    // The golden data claims usize = u64; refuse to produce it anywhere else.
    assert_eq!(usize::BITS, 64, "golden data assumes a 64-bit usize");

    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/inputs.json").to_string());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let records: Vec<TokenUsageRecord> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad {path}: {e}"));

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for record in &records {
        let line = serde_json::to_string(record).expect("serializes");
        // Same guarantees the engine's own test asserts, plus a lossless round trip.
        assert!(!line.contains('\n'), "must be a single line");
        let back: TokenUsageRecord = serde_json::from_str(&line).expect("round-trips");
        assert_eq!(&back, record);
        writeln!(out, "{line}").expect("write stdout");
    }
}
