// What the two embedding gather bodies share (embedding.wgsl, and
// embedding_split.wgsl for the split layout): their params, the ids / y
// bindings (the table is binding 0, in the decoder's file) and which row a
// workgroup gathers. Concatenated right before the body.
//
// One workgroup per token, for one part of a (possibly split) table.
// Tokens whose row lives in another part are left for that part's
// dispatch. Ids are clamped to the table (the host validates them first),
// so a bad id never reads out of bounds.

struct Params {
    rows: u32,       // rows of this table part
    cols: u32,
    row_words: u32,  // u32 words per row
    units: u32,      // 16-value units per row, ceil(cols / 16) (embedding.wgsl)
    first_row: u32,  // index of this part's first row in the whole table
    total_rows: u32, // rows of the whole table
    n: u32,          // tokens
    ids_offset: u32,
    y_offset: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// Workgroup `group`'s token, as (its first output index in y, its row's
// first word in this part), or none when the token is past n or its row is
// in another part.
struct TokenRow {
    found: bool,
    out: u32,
    row_word: u32,
}

fn token_row(group: vec3<u32>, groups: vec3<u32>) -> TokenRow {
    let token = group.x + group.y * groups.x;
    if (token >= p.n) {
        return TokenRow(false, 0u, 0u);
    }
    let id = min(ids[p.ids_offset + token], p.total_rows - 1u);
    if (id < p.first_row || id - p.first_row >= p.rows) {
        return TokenRow(false, 0u, 0u);
    }
    return TokenRow(true, p.y_offset + token * p.cols, (id - p.first_row) * p.row_words);
}
