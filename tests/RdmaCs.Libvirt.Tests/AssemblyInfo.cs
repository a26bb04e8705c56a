// Two libvirt hosts and two QEMUs at a time on two cores: one test at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
