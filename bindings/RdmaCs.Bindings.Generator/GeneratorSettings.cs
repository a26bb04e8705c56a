namespace RdmaCs.Bindings.Generator;

/// <summary>What to read and how: the header set, where it lives, and extra arguments for clang.</summary>
internal sealed record GeneratorSettings(
    string IncludeDirectory,
    IReadOnlyList<string> Headers,
    IReadOnlyList<string> ClangArguments,
    string Namespace,
    string ClassName,
    string Library,
    string Description)
{
    /// <summary>libfabric as Debian 12 installs it (libfabric-dev).</summary>
    public static GeneratorSettings LibFabric() => new(
        "/usr/include",
        ["rdma/fabric.h", "rdma/fi_domain.h", "rdma/fi_endpoint.h", "rdma/fi_rma.h", "rdma/fi_cm.h", "rdma/fi_eq.h", "rdma/fi_errno.h"],
        ClangIncludeArguments(),
        "RdmaCs.Bindings.LibFabric",
        "Fi",
        "libfabric.so.1",
        "libfabric");

    /// <summary>clang's own headers (stddef.h, stdint.h), which libclang does not always find by itself.</summary>
    private static string[] ClangIncludeArguments()
    {
        string? resource = Directory.Exists("/usr/lib/llvm-14/lib/clang")
            ? Directory.GetDirectories("/usr/lib/llvm-14/lib/clang").Order(StringComparer.Ordinal).LastOrDefault()
            : null;
        return resource is null ? [] : ["-isystem", Path.Combine(resource, "include")];
    }
}
