using Xunit;

// VmLck is per process: tests that check what is locked must not overlap with tests that lock.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
