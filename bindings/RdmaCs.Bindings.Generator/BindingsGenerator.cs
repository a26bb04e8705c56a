namespace RdmaCs.Bindings.Generator;

/// <summary>Headers in, C# files out (name → contents); the same input gives the same bytes.</summary>
internal static class BindingsGenerator
{
    public static SortedDictionary<string, string> Generate(GeneratorSettings settings) =>
        CSharpWriter.Write(HeaderReader.Read(settings), settings);

    /// <summary>Files of <paramref name="directory"/> that differ from <paramref name="generated"/>, or are missing or extra.</summary>
    public static List<string> Differences(SortedDictionary<string, string> generated, string directory)
    {
        var differences = new List<string>();
        foreach ((string name, string contents) in generated)
        {
            string path = Path.Combine(directory, name);
            if (!File.Exists(path))
            {
                differences.Add($"{name}: missing");
            }
            else if (File.ReadAllText(path) != contents)
            {
                differences.Add($"{name}: differs from what the headers give now");
            }
        }
        foreach (string path in Directory.Exists(directory) ? Directory.GetFiles(directory, "*.g.cs") : [])
        {
            if (!generated.ContainsKey(Path.GetFileName(path)))
            {
                differences.Add($"{Path.GetFileName(path)}: not generated any more");
            }
        }
        return differences;
    }
}
