"""``nwsrec.data.files``: sharding files across input pipelines (property-based)."""

from hypothesis import given, settings
from hypothesis import strategies as st

from nwsrec.data.files import shard_files


@settings(max_examples=100, deadline=None)
@given(num_files=st.integers(1, 40), data=st.data())
def test_the_shards_of_every_pipeline_partition_the_files_in_order(num_files, data):
    files = [f"train-{i:05d}" for i in range(num_files)]
    num_pipelines = data.draw(st.integers(1, num_files))
    shards = [shard_files(files, p, num_pipelines) for p in range(num_pipelines)]
    # Every file in exactly one shard; each shard keeps the files' order; sizes differ by <= 1.
    assert sorted(f for shard in shards for f in shard) == files
    assert all(shard == sorted(shard) for shard in shards)
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    # Pipeline p reads files p, p + n, ...: the k-th global batch of n pipelines reading
    # side by side is the k-th block of n files, as one pipeline reading them in turn.
    for p, shard in enumerate(shards):
        assert shard == files[p::num_pipelines]
