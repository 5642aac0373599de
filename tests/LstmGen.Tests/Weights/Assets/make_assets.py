#!/usr/bin/env python3
"""Writes the compiled-in weights test assets with Python's struct and json only (an independent safetensors writer).

compiled_f32.safetensors: a module state dict ('lstm.' prefix, 'fc.' head) of LSTM(3, 17, num_layers=2) + Linear(17, 2), F32.
compiled_f16.safetensors: the same values as F16, bare names, with __metadata__.
Values: 0.4 * sin(0.37 * k + 0.1 * t) for element k of tensor number t. Run from this folder: python3 make_assets.py
"""
import json, math, struct, sys

def tensors(I, H, L, O):
    out = []
    for k in range(L):
        out += [(f"weight_ih_l{k}", [4 * H, I if k == 0 else H]), (f"weight_hh_l{k}", [4 * H, H]),
                (f"bias_ih_l{k}", [4 * H]), (f"bias_hh_l{k}", [4 * H])]
    if O:
        out += [("fc.weight", [O, H]), ("fc.bias", [O])]
    return out

def write(path, specs, prefix, fmt, dtype, metadata=None):
    header, data = {}, bytearray()
    if metadata:
        header["__metadata__"] = metadata
    for t, (name, shape) in enumerate(specs):
        n = math.prod(shape)
        values = [0.4 * math.sin(0.37 * k + 0.1 * t) for k in range(n)]
        raw = struct.pack("<%d%s" % (n, fmt), *values)
        full = name if name.startswith("fc.") else prefix + name
        header[full] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)

def main():
    specs = tensors(3, 17, 2, 2)
    write("compiled_f32.safetensors", specs, "lstm.", "f", "F32")
    write("compiled_f16.safetensors", specs, "", "e", "F16", {"format": "pt", "source": "make_assets.py"})
    # The AOT sample's weights: LSTM(4, 24) + Linear(24, 3).
    write(sys.argv[1] if len(sys.argv) > 1 else "../../../../samples/CompiledWeights/forecaster.safetensors", tensors(4, 24, 1, 3), "lstm.", "f", "F32")

main()
