#!/usr/bin/env python3
"""Host tests of scripts/profile.py's pure parts: the boot image and boot
log it reads, symbolization and the attribution of samples, on made-up
symbol lists and register dumps (no QEMU).

  python3 -m unittest scripts/test_profile.py
"""
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile as prof  # noqa: E402  (scripts/profile.py, not the stdlib's)

NM = """\
0000000000201000 0000000000000040 T _start
0000000000201040 0000000000000100 t sha2::sha256::soft::compress::h0123456789abcdef
0000000000201140 0000000000000020 T memcpy
0000000000201140 0000000000000020 T __memcpy_alias
0000000000201200 T no_size_then_next
0000000000201300 0000000000000010 T last
0000000000400000 0000000000000008 D some_data
"""

REGS = """\
RAX=0000000000000000 RBX=0000000000000001 RCX=0000000000000002 RDX=0000000000000003
RIP=0000000000201050 RFL=00000246 [---Z-P-] CPL=3 II=0 A20=1 SMM=0 HLT=0
CR0=80050033 CR2=0000000000000000 CR3=0000000001234018 CR4=00300620
"""


class SymbolTests(unittest.TestCase):
    def setUp(self):
        self.syms = prof.Symbols(prof.parse_nm(NM))

    def test_a_code_address_names_its_function_without_the_hash(self):
        self.assertEqual(self.syms.lookup(0x201050), "sha2::sha256::soft::compress")
        self.assertEqual(self.syms.lookup(0x201000), "_start")

    def test_an_alias_at_the_same_start_resolves_to_one_of_them(self):
        self.assertIn(self.syms.lookup(0x201150), ("memcpy", "__memcpy_alias"))

    def test_a_gap_after_a_sized_symbol_is_unknown(self):
        self.assertIsNone(self.syms.lookup(0x201180))
        self.assertIsNone(self.syms.lookup(0x200000))
        self.assertIsNone(self.syms.lookup(0x201310))

    def test_a_symbol_without_size_reaches_the_next_one(self):
        self.assertEqual(self.syms.lookup(0x2012ff), "no_size_then_next")
        self.assertEqual(self.syms.lookup(0x201300), "last")

    def test_data_symbols_are_not_code(self):
        self.assertIsNone(self.syms.lookup(0x400004))


class AttributionTests(unittest.TestCase):
    def setUp(self):
        self.tables = {"fs-server": prof.Symbols(prof.parse_nm(NM))}
        self.kernel = prof.Symbols(prof.parse_nm(
            "ffffffff80100000 0000000000000100 T kernel::syscall::dispatch\n"))
        self.procs = prof.parse_loaded(
            "[INFO ] loaded fs from fs-server (123 bytes, 3 capabilities, cr3 0x1234000)\n"
            "[INFO ] loaded block from block-server (99 bytes, 1 capabilities, cr3 0x2000000)\n")

    def test_the_boot_log_maps_each_page_table_root_to_its_process(self):
        self.assertEqual(self.procs, {0x1234000: ("fs", "fs-server"),
                                      0x2000000: ("block", "block-server")})

    def test_a_register_dump_gives_rip_cr3_without_flags_cpl_and_halt(self):
        self.assertEqual(prof.parse_registers(REGS), (0x201050, 0x1234000, 3, False))
        with self.assertRaises(ValueError):
            prof.parse_registers("nothing here")

    def test_user_samples_go_to_the_process_whose_cr3_it_is(self):
        s = prof.parse_registers(REGS)
        self.assertEqual(prof.attribute(s, self.procs, self.tables, self.kernel),
                         ("fs", "fs", "sha2::sha256::soft::compress"))

    def test_kernel_samples_name_the_kernel_function_and_the_loaded_process(self):
        s = (0xffffffff80100010, 0x2000000, 0, False)
        self.assertEqual(prof.attribute(s, self.procs, self.tables, self.kernel),
                         ("kernel", "block", "kernel::syscall::dispatch"))

    def test_a_halted_cpu_is_idle_whatever_the_rip(self):
        s = (0xffffffff80100010, 0x1234000, 0, True)
        self.assertEqual(prof.attribute(s, self.procs, self.tables, self.kernel)[0], "idle")

    def test_unknown_roots_and_addresses_stay_visible_not_dropped(self):
        where, on, fn = prof.attribute((0x201050, 0x9000, 3, False), self.procs, self.tables,
                                       self.kernel)
        self.assertEqual((where, fn), ("cr3=0x9000", "? 0x201050"))
        self.assertEqual(prof.attribute((0x900000, 0x2000000, 3, False), self.procs,
                                        self.tables, self.kernel)[2], "? 0x900000")


class NameTests(unittest.TestCase):
    def test_generic_arguments_are_elided_but_qualified_paths_kept(self):
        self.assertEqual(prof.short_name(
            "<filesystem::fs::Fs<block_api::client::BlockClient, content::X<u8>>>::put"),
            "<filesystem::fs::Fs<..>>::put")
        self.assertEqual(prof.short_name("<userlib::ipc::ReplyToken as abi::iface::Caller>::reply"),
                         "<userlib::ipc::ReplyToken as abi::iface::Caller>::reply")
        self.assertEqual(prof.short_name("cowbtree::tree::insert_at::<fn(u8) -> u8>"),
                         "cowbtree::tree::insert_at::<..>")

    def test_an_inlined_sample_is_named_by_its_innermost_own_function(self):
        text = ("0x0000000000201050\n"
                "core::intrinsics::rotate_right<u32>\n/rustlib/core/src/intrinsics.rs:1\n"
                "<u32>::wrapping_add\n/rustlib/core/src/num/mod.rs:2\n"
                "blake3tcg::compress::g\nservices/blake3tcg/src/compress.rs:3\n"
                "blake3tcg::compress::compress\nservices/blake3tcg/src/compress.rs:4\n"
                "0x0000000000201060\n"
                "core::ptr::copy_nonoverlapping<u8>\n/rustlib/core/src/ptr/mod.rs:5\n"
                "0x0000000000201070\n??\n??:0\n")
        self.assertEqual(prof.parse_addr2line(text), {
            0x201050: "blake3tcg::compress::g",
            # Only the library's frames: the outermost of them.
            0x201060: "core::ptr::copy_nonoverlapping<..>"})

    def test_families_sort_samples_by_what_the_code_is_for(self):
        self.assertEqual(prof.category("fs", "sha2::sha256::compress256"), ("user", "SHA-256"))
        self.assertEqual(prof.category("kernel", "tcgmem::move_group"), ("kernel", "copies"))
        self.assertEqual(prof.category("block", "crc::crc32::update_table::<..>"),
                         ("user", "CRC checksums"))
        self.assertEqual(prof.category("idle", "hlt"), ("idle", "idle (hlt)"))
        self.assertEqual(prof.category("fs", "filesystem::fs::paths::components"),
                         ("user", "other"))


class CallerTests(unittest.TestCase):
    # Code at 0x401000: a direct call (E8 rel32) ending at 0x401005, three
    # bytes of padding, an indirect `call *%rax` (FF D0) ending at 0x40100a,
    # then `call *0x10(%rbx)` (FF 53 10) ending at 0x40100d.
    CODE = bytes([0xE8, 0, 0, 0, 0, 0x90, 0x90, 0x90, 0xFF, 0xD0, 0xFF, 0x53, 0x10, 0x90, 0x90])

    def setUp(self):
        self.code = prof.Code([(0x401000, self.CODE)])
        self.syms = prof.Symbols(prof.parse_nm(
            "0000000000401000 0000000000000008 T caller_a\n"
            "0000000000401008 0000000000000008 T caller_b\n"))

    def test_a_word_after_a_call_instruction_is_a_return_address(self):
        self.assertTrue(self.code.is_return_address(0x401005))  # E8 at addr-5
        self.assertTrue(self.code.is_return_address(0x40100a))  # FF /2, 2 bytes
        self.assertTrue(self.code.is_return_address(0x40100d))  # FF /2, 3 bytes
        self.assertFalse(self.code.is_return_address(0x401006))
        self.assertFalse(self.code.is_return_address(0x900000))  # not code

    def test_the_stack_dump_is_read_into_words_and_frames(self):
        dump = ("00007fffffffe000: 0x0000000000000007 0x000000000040100a\r\n"
                "00007fffffffe010: 0x0000000000401006 0x000000000040100d\r\n")
        words = prof.parse_dump(dump)
        self.assertEqual(words, [7, 0x40100a, 0x401006, 0x40100d])
        self.assertEqual(prof.frames(words, self.code, self.syms), ["caller_b", "caller_b"])

    def test_callers_are_the_first_frames_outside_the_pattern(self):
        rows = [("fs", "crc::update", ["crc::outer", "seal", "write_through"]),
                ("fs", "crc::update", []),
                ("fs", "other", ["seal"])]
        self.assertEqual(dict(prof.callers(rows, "crc")),
                         {("fs", "seal <- write_through"): 1, ("fs", "(no caller found)"): 1})


class ReportTests(unittest.TestCase):
    def test_shares_add_up_per_run_and_rank_by_total(self):
        runs = [[("fs", "fs", "a")] * 3 + [("kernel", "fs", "k")],
                [("fs", "fs", "a")] * 1 + [("kernel", "fs", "k")] * 3]
        out = "\n".join(prof.report("seq_write", runs, 2, 30, 5))
        self.assertIn("8 samples in 2 run(s)", out)
        fs_line = next(l for l in out.splitlines() if l.strip().startswith("fs ") and " a " in l)
        # 4 of 8 samples; 75% of run 1, 25% of run 2.
        self.assertRegex(fs_line, r"\s4\s+50\.0\s+75\.0\s+25\.0$")
        self.assertIn("on fs", out)


class BootImageTests(unittest.TestCase):
    def test_files_and_the_configuration_read_back(self):
        files = [("bench-fs.cfg", b"# c\nproc fs fs-server ep=block:1 mem=48\n"),
                 ("fs-server", b"\x7fELF...")]
        header = b"BOOTIMG1" + struct.pack("<II", len(files), 0)
        pos, entries, blobs = 4096, b"", b""
        for name, data in files:
            entries += name.encode().ljust(32, b"\0") + struct.pack("<QQ", pos, len(data))
            blobs += data.ljust(4096, b"\0")
            pos += 4096
        image = (header + entries).ljust(4096, b"\0") + blobs
        got = prof.boot_image_files(image)
        self.assertEqual(got["fs-server"], b"\x7fELF...")
        self.assertEqual(prof.config_images(got["bench-fs.cfg"].decode()), {"fs": "fs-server"})
        with self.assertRaises(ValueError):
            prof.boot_image_files(b"NOTANIMG" + image[8:])


if __name__ == "__main__":
    unittest.main()
