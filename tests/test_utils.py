

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
