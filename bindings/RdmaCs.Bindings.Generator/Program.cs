using RdmaCs.Bindings.Generator;

// rdmacs bindings generator: reads libfabric's installed headers with libclang and writes C#.
//   generate --output DIR   write the files (and delete stale *.g.cs)
//   generate --check DIR    exit 1 when DIR differs from what the headers give now
if (args.Length != 2 || args[0] is not ("--output" or "--check"))
{
    Console.Error.WriteLine("usage: RdmaCs.Bindings.Generator --output DIR | --check DIR");
    return 2;
}
string directory = args[1];
SortedDictionary<string, string> files;
try
{
    files = BindingsGenerator.Generate(GeneratorSettings.LibFabric());
}
catch (Exception e) when (e is InvalidOperationException or NotSupportedException or DllNotFoundException)
{
    Console.Error.WriteLine($"bindings generator: {e.Message}");
    return 1;
}

if (args[0] == "--check")
{
    List<string> differences = BindingsGenerator.Differences(files, directory);
    differences.ForEach(d => Console.Error.WriteLine($"bindings generator: {d}"));
    return differences.Count == 0 ? 0 : 1;
}

Directory.CreateDirectory(directory);
foreach (string stale in Directory.GetFiles(directory, "*.g.cs").Where(path => !files.ContainsKey(Path.GetFileName(path))))
{
    File.Delete(stale);
}
foreach ((string name, string contents) in files)
{
    File.WriteAllText(Path.Combine(directory, name), contents);
    Console.WriteLine($"bindings generator: wrote {Path.Combine(directory, name)}");
}
return 0;
