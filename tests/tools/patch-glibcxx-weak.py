#!/usr/bin/env python3
"""Make TorchSharp's libLibTorchSharp.so loadable on Debian 12 (libstdc++ from GCC 12).

TorchSharp-cpu 0.107.0 ships a libLibTorchSharp.so linked against GCC 13's libstdc++; it
requires the symbol version GLIBCXX_3.4.32, which GCC 12's libstdc++ (up to GLIBCXX_3.4.30)
does not define, so dlopen fails. The only symbol bound to that version is
std::ios_base_library_init(), a marker with no relocations against it. Setting VER_FLG_WEAK
(0x2) on that one Vernaux entry of .gnu.version_r turns the hard error into nothing: glibc's
loader ignores a missing weak version requirement.

Usage: patch-glibcxx-weak.py <dir> [<dir> ...]
  Finds every libLibTorchSharp.so under each <dir> (recursively) and patches it in place.
  Meant for a BUILD OUTPUT directory (never point it at ~/.nuget): a file that is hard-linked
  or a symlink is first replaced by a private copy, so the package cache is never modified.
  Idempotent; prints a message and exits 0 when there is nothing to do.
Only the Python 3 standard library is used.
"""
import os
import shutil
import struct
import sys
import tempfile

LIB_NAME = "libLibTorchSharp.so"
VERSION = b"GLIBCXX_3.4.32"
SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


class ElfError(Exception):
    pass


def find_weak_offsets(data):
    """Return (offsets_to_patch, already_weak_count) for Vernaux entries naming VERSION."""
    if data[:4] != b"\x7fELF":
        raise ElfError("not an ELF file")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2):
        raise ElfError("unknown ELF class %d" % ei_class)
    if ei_data not in (1, 2):
        raise ElfError("unknown ELF data encoding %d" % ei_data)
    e = "<" if ei_data == 1 else ">"
    is64 = ei_class == 2

    if is64:
        # e_shoff at 0x28 (8 bytes), e_shentsize 0x3A, e_shnum 0x3C, e_shstrndx 0x3E
        (e_shoff,) = struct.unpack_from(e + "Q", data, 0x28)
        e_shentsize, e_shnum, _ = struct.unpack_from(e + "HHH", data, 0x3A)
        sh_fmt = e + "IIQQQQIIQQ"  # name type flags addr offset size link info addralign entsize
    else:
        (e_shoff,) = struct.unpack_from(e + "I", data, 0x20)
        e_shentsize, e_shnum, _ = struct.unpack_from(e + "HHH", data, 0x2E)
        sh_fmt = e + "IIIIIIIIII"
    if e_shoff == 0:
        raise ElfError("no section header table")
    if e_shnum == 0:  # extended numbering: real count in sh_size of section 0
        e_shnum = struct.unpack_from(sh_fmt, data, e_shoff)[5]
    if e_shentsize < struct.calcsize(sh_fmt) or e_shoff + e_shnum * e_shentsize > len(data):
        raise ElfError("section header table out of range")

    sections = [struct.unpack_from(sh_fmt, data, e_shoff + k * e_shentsize) for k in range(e_shnum)]

    def cstr(off):
        end = data.find(b"\0", off)
        if end < 0:
            raise ElfError("unterminated string at 0x%x" % off)
        return data[off:end]

    to_patch, already = [], 0
    for sh in sections:
        sh_type, sh_offset, sh_size, sh_link, sh_info = sh[1], sh[4], sh[5], sh[6], sh[7]
        if sh_type != SHT_GNU_VERNEED:
            continue
        if sh_link >= len(sections):
            raise ElfError("bad sh_link %d" % sh_link)
        str_off = sections[sh_link][4]
        # Verneed: vn_version u16, vn_cnt u16, vn_file u32, vn_aux u32, vn_next u32 (same in ELF32/64)
        # Vernaux: vna_hash u32, vna_flags u16, vna_other u16, vna_name u32, vna_next u32
        vn = sh_offset
        for _ in range(sh_info or 1 << 16):
            if vn + 16 > sh_offset + sh_size:
                raise ElfError("Verneed entry out of range")
            _, vn_cnt, _, vn_aux, vn_next = struct.unpack_from(e + "HHIII", data, vn)
            va = vn + vn_aux
            for _ in range(vn_cnt):
                if va + 16 > sh_offset + sh_size:
                    raise ElfError("Vernaux entry out of range")
                _, vna_flags, _, vna_name, vna_next = struct.unpack_from(e + "IHHII", data, va)
                if cstr(str_off + vna_name) == VERSION:
                    if vna_flags & VER_FLG_WEAK:
                        already += 1
                    else:
                        to_patch.append((va + 4, vna_flags | VER_FLG_WEAK, e))
                if vna_next == 0:
                    break
                va += vna_next
            if vn_next == 0:
                break
            vn += vn_next
    return to_patch, already


def make_private(path):
    """Replace a symlink or multiply-linked file by a private copy (keeps caches untouched)."""
    st = os.lstat(path)
    if os.path.islink(path) or st.st_nlink > 1:
        real = os.path.realpath(path)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".patch-")
        os.close(fd)
        shutil.copy2(real, tmp)
        os.replace(tmp, path)
        print("patch-glibcxx-weak: %s was a link; replaced by a private copy" % path)


def patch_file(path):
    with open(path, "rb") as f:
        data = f.read()
    to_patch, already = find_weak_offsets(data)
    if not to_patch:
        if already:
            print("patch-glibcxx-weak: %s: %s already weak, nothing to do" % (path, VERSION.decode()))
        else:
            print("patch-glibcxx-weak: %s: no %s requirement, nothing to do" % (path, VERSION.decode()))
        return
    make_private(path)
    st = os.stat(path)
    with open(path, "r+b") as f:
        for off, flags, e in to_patch:
            f.seek(off)
            f.write(struct.pack(e + "H", flags))
    # Keep the timestamps so MSBuild's incremental copy (size + time) leaves the patched file alone.
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    print("patch-glibcxx-weak: %s: marked %s weak (%d entr%s)"
          % (path, VERSION.decode(), len(to_patch), "y" if len(to_patch) == 1 else "ies"))


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: %s <dir> [<dir> ...]" % os.path.basename(argv[0]), file=sys.stderr)
        return 2
    found = 0
    for root_dir in argv[1:]:
        if not os.path.isdir(root_dir):
            print("patch-glibcxx-weak: %s is not a directory, nothing to do" % root_dir)
            continue
        for dirpath, _, files in os.walk(root_dir):
            if LIB_NAME in files:
                found += 1
                try:
                    patch_file(os.path.join(dirpath, LIB_NAME))
                except (ElfError, struct.error) as ex:
                    print("patch-glibcxx-weak: %s: not patched: %s" % (os.path.join(dirpath, LIB_NAME), ex))
    if found == 0:
        print("patch-glibcxx-weak: no %s under %s, nothing to do" % (LIB_NAME, ", ".join(argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
