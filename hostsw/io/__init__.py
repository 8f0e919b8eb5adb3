"""Atomic file output: a killed run never leaves a half-written artifact."""

from hostsw.io.atomic import (append_jsonl, atomic_torch_save, atomic_write_json,
                              atomic_write_text, ensure_writable_dir, read_jsonl,
                              truncate_jsonl)
from hostsw.io.tempdirs import make_temp_dir, sweep_stale

__all__ = ["append_jsonl", "atomic_torch_save", "atomic_write_json", "atomic_write_text",
           "ensure_writable_dir", "make_temp_dir", "read_jsonl", "sweep_stale",
           "truncate_jsonl"]
