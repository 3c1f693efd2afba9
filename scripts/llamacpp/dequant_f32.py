#!/usr/bin/env python3
"""Write an all-F32 copy of a quantized GGUF (same metadata, every tensor dequantized).

Diagnostic for teacher_forcing.mjs: llama.cpp on CPU runs F32 weights as plain f32
matmuls (no 8-bit activation quantization), so the F32 copy gives a llama.cpp
reference whose weights are exactly the dequantized quantized ones -- what navaja
computes with -- without llama.cpp's q8 activation rounding.

  # numpy and gguf are what scripts/setup.sh installs into ~/.cache/navaja/pydeps:
  PYTHONPATH=~/.cache/navaja/pydeps python3 scripts/llamacpp/dequant_f32.py models/X.gguf /tmp/X-f32.gguf
  node scripts/llamacpp/teacher_forcing.mjs --model models/X.gguf --llama-model /tmp/X-f32.gguf ...
"""
import sys

import numpy as np
import gguf
from gguf.quants import dequantize

src, dst = sys.argv[1], sys.argv[2]
reader = gguf.GGUFReader(src)
arch = reader.fields[gguf.Keys.General.ARCHITECTURE].contents()
writer = gguf.GGUFWriter(dst, arch)
for field in reader.fields.values():
    if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
        continue
    val_type = field.types[0]
    sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
    value = field.contents()
    if field.name == gguf.Keys.General.FILE_TYPE:
        value = int(gguf.LlamaFileType.ALL_F32)
    writer.add_key_value(field.name, value, val_type, sub_type=sub_type)
for t in reader.tensors:
    data = dequantize(t.data, t.tensor_type).astype(np.float32)
    writer.add_tensor(t.name, data)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
print(f"wrote {dst}: {len(reader.tensors)} tensors as F32")
