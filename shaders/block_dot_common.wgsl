// For matvec_blocks.wgsl: the weight binding. A block of 32 values is read
// as 4 pairs of runs: pair k is columns 4k..4k+3 (run "a") and 16+4k..19+4k
// (run "b"), which both come from the same word of a Q4_1 block.
@group(0) @binding(0) var<storage, read> w: array<u32>;
