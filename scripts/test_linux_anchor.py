"""Host tests of scripts/linux_anchor.py's pure parts: the anchor's table
read into figures, and the ratios issue #13 asks for.

  python3 -m unittest scripts/test_linux_anchor.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import linux_anchor  # noqa: E402

TABLE = """\
== host: 2 cpus,  AMD EPYC, load: 1.70 0.58 0.21
SHA-256 plain C, gcc -O2 (MB/s)                                   54.7         54.7..54.7   1
BLAKE3 C 1.8.7, runtime dispatch (-O3) (MB/s)                     97.8         97.8..97.8   1
BLAKE3 C 1.8.7, portable (no SIMD) (MB/s)                        134.8       134.8..134.8   1
put 32 MiB, SHA-256 + BLAKE3 (dispatch) (MB/s)                    41.4         41.4..41.4   1
put 32 MiB, SHA-256 + BLAKE3 (portable) (MB/s)                    48.4         48.4..48.4   1
get 32 MiB cold, verify SHA-256 + BLAKE3 (port.) (MB/s)           58.8         58.8..58.8   1
4 KiB durable puts, no hash (ops/s)                              275.4       275.4..275.4   1
4 KiB durable puts, SHA-256 + BLAKE3 (disp.) (ops/s)             265.2       265.0..266.0   3
small-put latency per boot, median/p90 (us): small4k_none 3535/4238
"""


class AnchorTable(unittest.TestCase):
    def test_the_rows_doing_the_stacks_work_are_read(self):
        f = linux_anchor.figures(TABLE)
        self.assertEqual(f, {
            "linux_sha256_MBps": (54.7, "MB/s"),
            "linux_blake3_MBps": (134.8, "MB/s"),
            "linux_put_MBps": (48.4, "MB/s"),
            "linux_get_MBps": (58.8, "MB/s"),
            "linux_small_put_ops": (265.2, "ops/s"),
        })

    def test_ratios_pair_each_figure_with_its_target(self):
        linux = linux_anchor.figures(TABLE)
        lines = linux_anchor.ratios(linux, {"fs_small_put_ops_4clients": 975.0,
                                            "fs_seq_write_MBps": 46.0})
        self.assertEqual(lines, [
            "fs_seq_write_MBps_vs_linux_ratio: 0.95 ratio",
            "fs_small_put_ops_4clients_vs_linux_ratio: 3.68 ratio",
        ])

    def test_nothing_measured_gives_no_ratio(self):
        self.assertEqual(linux_anchor.ratios({}, {"fs_small_put_ops": 700.0}), [])


if __name__ == "__main__":
    unittest.main()
