"""Settings restored, memory probes and out-of-memory handling around a measurement
(archcalc.timing.session, archcalc.core.memory, archcalc.system)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
import torch
from torch import nn

from archcalc import system
from archcalc.core import memory
from archcalc.errors import InsufficientMemoryError
from archcalc.timing import session

MIB = 2**20


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (torch.cuda.OutOfMemoryError("CUDA out of memory"), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 8"), True),
        (MemoryError(), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
        (ValueError("can't allocate memory"), False),  # not an allocator error type
    ],
)
def test_is_out_of_memory(error: BaseException, expected: bool) -> None:
    assert memory.is_out_of_memory(error) is expected


def allocate_then_fail(refs: list[Any]) -> None:
    held = torch.ones(1024)
    refs.append(weakref.ref(held))
    raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")


def test_out_of_memory_becomes_one_error_and_frees_the_failed_frames() -> None:
    refs: list[Any] = []
    guard = memory.out_of_memory_as_error("cpu", "resnet50 at 224x224, batch 512")
    with pytest.raises(InsufficientMemoryError) as info, guard:
        allocate_then_fail(refs)
    assert str(info.value) == (
        "resnet50 at 224x224, batch 512: out of memory on cpu "
        "(CUDA out of memory. Tried to allocate 1.00 GiB)"
    )
    assert isinstance(info.value.__cause__, torch.OutOfMemoryError)
    assert refs[0]() is None  # freed although the exception (and its traceback) is alive


def test_other_errors_pass_through_unchanged() -> None:
    guard = memory.out_of_memory_as_error("cpu", "x")
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"), guard:
        raise RuntimeError("shapes cannot be multiplied")


def test_release_memory_empties_the_cuda_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty_cache"))
    with pytest.raises(InsufficientMemoryError), memory.out_of_memory_as_error("cuda:0", "x"):
        raise torch.OutOfMemoryError("CUDA out of memory")
    assert calls == ["empty_cache"]


@pytest.mark.parametrize("initial", [True, False])
def test_cudnn_benchmark_on_inside_restored_after(initial: bool) -> None:
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = initial
    try:
        with pytest.raises(KeyError), session.cudnn_benchmark():
            assert torch.backends.cudnn.benchmark is True
            raise KeyError("restored even on error")
        assert torch.backends.cudnn.benchmark is initial
    finally:
        torch.backends.cudnn.benchmark = before


def test_threads_and_gc_restored_on_error() -> None:
    threads = torch.get_num_threads()
    target = 1 if threads != 1 else 2
    with pytest.raises(KeyError), session.torch_threads(target), session.gc_paused():
        assert torch.get_num_threads() == target and not gc.isenabled()
        raise KeyError("boom")
    assert torch.get_num_threads() == threads and gc.isenabled()


def test_on_device_restores_memory_format_of_a_user_module() -> None:
    model = nn.Conv2d(3, 4, 3)
    with session.on_device(model, "cpu", channels_last=True):
        assert model.weight.is_contiguous(memory_format=torch.channels_last)
        assert not model.weight.is_contiguous()
    assert model.weight.is_contiguous()


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("MemTotal:       24684092 kB\nMemAvailable:   21085020 kB\n", "MemAvailable", 21085020),
        ("VmHWM:\t  522680 kB\nVmRSS:\t   10816 kB\n", "VmRSS", 10816),
        ("VmHWM:\t  522680 kB\n", "VmRSS", None),
    ],
)
def test_proc_kib(text: str, key: str, expected: int | None) -> None:
    assert system.proc_kib(text, key) == (None if expected is None else 1024 * expected)


def test_cpu_probe_sees_a_temporary_allocation() -> None:
    probe = session.MemoryProbe("cpu")
    probe.start()
    block = torch.ones(64 * MIB // 4)  # 64 MiB, written so the pages are resident
    del block
    peak, method = probe.stop()
    if method == "unavailable":
        pytest.skip("/proc/self/clear_refs is not available here")
    assert method == "rss_increase" and peak is not None and peak >= 60 * MIB


def test_cuda_probe_resets_then_reads_the_peak(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda d: calls.append(f"reset {d}"))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: 3 * MIB)
    probe = session.MemoryProbe("cuda:1")
    probe.start()
    assert probe.stop() == (3 * MIB, "cuda_max_allocated")
    assert calls == ["reset cuda:1"]
