namespace RdmaCs.Bindings.Generator;

/// <summary>What to read and how: the header set, where it lives, and extra arguments for clang.</summary>
internal sealed record GeneratorSettings(
    string IncludeDirectory,
    string IncludeDisplay,
    IReadOnlyList<string> Headers,
    IReadOnlyList<string> ClangArguments,
    string Namespace,
    string ClassName,
    string? Library,
    string Description,
    string MacroPattern,
    string OutputFolder)
{
    /// <summary>Every header set the generator handles, with its output folder under <paramref name="repositoryRoot"/>.</summary>
    public static IReadOnlyList<GeneratorSettings> All(string repositoryRoot) => [LibFabric(repositoryRoot), PluginAbi(repositoryRoot)];

    /// <summary>libfabric as Debian 12 installs it (libfabric-dev).</summary>
    public static GeneratorSettings LibFabric(string repositoryRoot) => new(
        "/usr/include",
        "/usr/include",
        ["rdma/fabric.h", "rdma/fi_domain.h", "rdma/fi_endpoint.h", "rdma/fi_rma.h", "rdma/fi_cm.h", "rdma/fi_eq.h", "rdma/fi_errno.h"],
        ClangIncludeArguments(),
        "RdmaCs.Bindings.LibFabric",
        "Fi",
        "libfabric.so.1",
        "libfabric",
        "^FI_[A-Z0-9_]+$",
        Path.Combine(repositoryRoot, "bindings/RdmaCs.Bindings/Generated"));

    /// <summary>rdma-cs's own plugin ABI header (include/rdma-cs-plugin.h); no functions: only the shim exports one.</summary>
    public static GeneratorSettings PluginAbi(string repositoryRoot)
    {
        string include = Path.GetFullPath(Path.Combine(repositoryRoot, "include"));
        return new(
            include,
            "include/",
            ["rdma-cs-plugin.h"],
            [.. ClangIncludeArguments(), "-I", include],
            "RdmaCs.Bindings.Plugin",
            "RdmaCsAbi",
            null,
            "rdma-cs plugin ABI",
            "^RDMA_CS_[A-Z0-9_]+$",
            Path.Combine(repositoryRoot, "bindings/RdmaCs.Bindings/Generated/Plugin"));
    }

    /// <summary>clang's own headers (stddef.h, stdint.h), which libclang does not always find by itself.</summary>
    private static string[] ClangIncludeArguments()
    {
        string? resource = Directory.Exists("/usr/lib/llvm-14/lib/clang")
            ? Directory.GetDirectories("/usr/lib/llvm-14/lib/clang").Order(StringComparer.Ordinal).LastOrDefault()
            : null;
        return resource is null ? [] : ["-isystem", Path.Combine(resource, "include")];
    }
}
