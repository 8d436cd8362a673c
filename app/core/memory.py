"""glibc malloc settings for the API processes (read by glibc at process start, so they are
passed in the environment: the Dockerfile's ENV, `make dev`, and the benchmarks).

- ``mmap_threshold``: every argon2 buffer (tens of MiB) is its own mapping, unmapped as soon as
  the hash is done, so memory follows the hashing semaphore instead of staying resident;
- ``hugetlb=1``: those mappings are advised for transparent huge pages, so faulting a fresh
  buffer in costs a few 2 MiB faults instead of thousands of 4 KiB ones;
- ``arena_max``: at most two malloc arenas per process, so threads do not each keep a heap.

docs/security.md has the measurements behind each.
"""

GLIBC_TUNABLES = (
    "glibc.malloc.mmap_threshold=131072:glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2"
)
