//! CPU reference dequantization (being written).
