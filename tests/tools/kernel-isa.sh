#!/usr/bin/env bash
# kernel-isa.sh BINARY SYMBOLS [OBJDUMP] [NM]
# Disassembles the generated kernel methods (symbols containing "Kernels": the models' paths and the shared kernels) of a Native AOT binary, using the symbol file
# StripSymbols leaves beside it (SYMBOLS = BINARY.dbg), and prints which kernel classes the binary contains and how many
# FMA instructions of each register width they use. CI uses it to show that each target runs its own width only.
set -euo pipefail
bin=$1; dbg=$2; objdump=${3:-objdump}; nm=${4:-nm}
# KernelsVector512 etc.: a model's per-width path (orchestration); Vector512Kernels etc.: the assembly's shared compute kernels.
echo "kernel classes present:$($nm "$dbg" | grep -oE "Kernels(Vector512|Vector256|Vector128|Scalar)|(Vector512|Vector256|Vector128|Scalar)Kernels" | sort | uniq -c | awk '{printf " %s (%d methods)", $2, $1}')"
asm=$(mktemp)
$nm -n "$dbg" | awk '$2 ~ /^[tT]$/' | awk '{ addr[NR]=$1; name[NR]=$3 } END { for (i = 1; i < NR; i++) if (name[i] ~ /Kernels/) print addr[i], addr[i+1] }' |
while read -r start stop; do
  $objdump -d --no-show-raw-insn --start-address=0x$start --stop-address=0x$stop "$bin" | grep -E "^\s+[0-9a-f]+:" || true
done > "$asm"
printf "kernel instructions: %d; FMA on zmm: %d, on ymm: %d, on xmm: %d; NEON fmla: %d; instructions using zmm: %d, ymm: %d\n" \
  "$(wc -l < "$asm")" \
  "$(grep -cE "vfmadd[0-9]*ps[^,]*zmm" "$asm" || true)" "$(grep -cE "vfmadd[0-9]*ps[^,]*ymm" "$asm" || true)" "$(grep -cE "vfmadd[0-9]*ps[^,]*xmm" "$asm" || true)" \
  "$(grep -cE "fmla\s+v[0-9]+\.4s" "$asm" || true)" "$(grep -cE "zmm" "$asm" || true)" "$(grep -cE "ymm" "$asm" || true)"
# The int8 gate products are the runtime's Int8Product (not a generated kernel): which integer dot-product form it uses.
$nm -n "$dbg" | awk '$2 ~ /^[tT]$/' | awk '{ addr[NR]=$1; name[NR]=$3 } END { for (i = 1; i < NR; i++) if (name[i] ~ /Int8Product/) print addr[i], addr[i+1] }' |
while read -r start stop; do
  $objdump -d --no-show-raw-insn --start-address=0x$start --stop-address=0x$stop "$bin" | grep -E "^\s+[0-9a-f]+:" || true
done > "$asm"
printf "int8 product instructions: %d; vpmaddubsw: %d, vpdpbusd: %d, pmaddubsw (SSSE3): %d; sdot: %d, smull: %d\n" \
  "$(wc -l < "$asm")" "$(grep -cE "vpmaddubsw" "$asm" || true)" "$(grep -cE "vpdpbusd" "$asm" || true)" "$(grep -cE "\spmaddubsw" "$asm" || true)" \
  "$(grep -cE "\ssdot\s" "$asm" || true)" "$(grep -cE "\ssmull2?\s" "$asm" || true)"
rm -f "$asm"
