

def test_cpu_threads_limits_and_restores():
    import pytest
    import torch

    from neuralab.utils import cpu_threads

    before = torch.get_num_threads()
    with cpu_threads(1, "cpu"):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cpu_threads(1, "meta"):  # another device: the CPU's threads are left alone
        assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1, got 0"), cpu_threads(0):
        pass


def test_tune_cpu_allocator_reuses_freed_batch_memory_and_can_be_turned_off():
    import platform
    import subprocess
    import sys

    import pytest

    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc malloc only")
    # Each process: allocate and free a 6 MB tensor 50 times; count the page faults of the loop. With glibc's
    # defaults every allocation is a fresh mmap (~1,500 faults each, ~75,000 in all); tuned, the heap grows once
    # and the freed block is reused.
    code = (
        "import resource, torch, sys\n"
        "from neuralab.utils import tune_cpu_allocator\n"
        "ok = tune_cpu_allocator(); assert tune_cpu_allocator() == ok\n"
        "torch.zeros(1_500_000)\n"
        "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(50): torch.zeros(1_500_000).add_(1)\n"
        "print(ok, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - r0)\n"
    )
    import os

    def run(env_extra):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, **env_extra}).stdout.split()
        return out[0] == "True", int(out[1])

    tuned, faults_tuned = run({})
    system, faults_system = run({"NEURALAB_MALLOC": "system"})
    assert tuned and not system
    assert faults_tuned < 5_000 and faults_system > 10 * faults_tuned, (faults_tuned, faults_system)
