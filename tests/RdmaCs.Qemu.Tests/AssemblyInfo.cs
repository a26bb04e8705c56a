// Two QEMU processes per test on two cores: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
