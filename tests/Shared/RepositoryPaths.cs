namespace RdmaCs.Tests.Shared;

internal static class RepositoryPaths
{
    /// <summary>The checkout's root: the nearest folder above the test binaries that holds Plugin.sln.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (DirectoryInfo? folder = new(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Plugin.sln")))
            {
                return folder.FullName;
            }
        }
        throw new DirectoryNotFoundException($"no Plugin.sln above {AppContext.BaseDirectory}");
    }
}
