using RdmaCs.Bindings.Generator;

// rdmacs bindings generator: reads C headers with libclang (libfabric's installed headers, and rdma-cs's
// own plugin ABI header) and writes C# bindings into the repository.
//   RdmaCs.Bindings.Generator --output ROOT   write every header set's files under the repository ROOT
//   RdmaCs.Bindings.Generator --check ROOT    exit 1 when they differ from what the headers give now
if (args.Length != 2 || args[0] is not ("--output" or "--check"))
{
    Console.Error.WriteLine("usage: RdmaCs.Bindings.Generator --output ROOT | --check ROOT");
    return 2;
}
int status = 0;
foreach (GeneratorSettings settings in GeneratorSettings.All(args[1]))
{
    SortedDictionary<string, string> files;
    try
    {
        files = BindingsGenerator.Generate(settings);
    }
    catch (Exception e) when (e is InvalidOperationException or NotSupportedException or DllNotFoundException)
    {
        Console.Error.WriteLine($"bindings generator: {settings.Description}: {e.Message}");
        return 1;
    }

    if (args[0] == "--check")
    {
        List<string> differences = BindingsGenerator.Differences(files, settings.OutputFolder);
        differences.ForEach(d => Console.Error.WriteLine($"bindings generator: {d}"));
        status |= differences.Count == 0 ? 0 : 1;
        continue;
    }

    Directory.CreateDirectory(settings.OutputFolder);
    foreach (string stale in Directory.GetFiles(settings.OutputFolder, "*.g.cs").Where(path => !files.ContainsKey(Path.GetFileName(path))))
    {
        File.Delete(stale);
    }
    foreach ((string name, string contents) in files)
    {
        File.WriteAllText(Path.Combine(settings.OutputFolder, name), contents);
        Console.WriteLine($"bindings generator: wrote {Path.Combine(settings.OutputFolder, name)}");
    }
}
return status;
