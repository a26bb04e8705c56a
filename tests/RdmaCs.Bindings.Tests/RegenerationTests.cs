using RdmaCs.Bindings.Generator;

namespace RdmaCs.Bindings.Tests;

public class RegenerationTests
{
    public static TheoryData<string> HeaderSets() => [.. GeneratorSettings.All(RepositoryPaths.Root).Select(s => s.Description)];

    [Theory]
    [MemberData(nameof(HeaderSets))]
    public void Regenerating_the_bindings_from_the_headers_changes_nothing(string headerSet)
    {
        GeneratorSettings settings = Find(headerSet);
        List<string> differences = BindingsGenerator.Differences(BindingsGenerator.Generate(settings), settings.OutputFolder);
        Assert.True(differences.Count == 0,
            "the committed bindings are not what the headers give; run scripts/generate-bindings.sh and review the diff:\n" +
            string.Join("\n", differences));
    }

    [Theory]
    [MemberData(nameof(HeaderSets))]
    public void Generating_twice_gives_the_same_bytes(string headerSet)
    {
        GeneratorSettings settings = Find(headerSet);
        Assert.Equal(BindingsGenerator.Generate(settings), BindingsGenerator.Generate(settings));
    }

    private static GeneratorSettings Find(string description) =>
        GeneratorSettings.All(RepositoryPaths.Root).Single(s => s.Description == description);
}
