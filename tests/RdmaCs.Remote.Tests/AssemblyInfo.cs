// Each test starts processes and reads VmLck; two cores are shared by everything.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
